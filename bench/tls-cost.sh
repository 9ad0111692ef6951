#!/usr/bin/env bash
# bench/tls-cost.sh — what TLS costs (issue 17): a 3-node coraft-kv on
# 127.0.0.21-23 (bench/lib-clusters.sh) under the same wrk put load
# (bench/wrk/put.lua: 100,000 keys, 128-byte values; wrk speaks HTTPS,
# coraft-bench does not), alternating three ways ROUNDS times each: all
# plaintext; mutual TLS between peers (--peer-cert/--peer-key/--peer-ca);
# and HTTPS for the client too (--http-cert/--http-key). Prints puts/s, p50
# and p99 per run and the medians. One certificate naming all three
# addresses serves the three nodes.
#   bash bench/tls-cost.sh                     # 64 connections, 10 s, 3 rounds
#   bash bench/tls-cost.sh --connections 256 --duration 10 --rounds 3
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build CONNS=64 DURATION=10 ROUNDS=3
while (($#)); do
  case $1 in
    --connections) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    *) echo "tls-cost.sh: unknown flag '$1' (--connections N, --duration S, --rounds N, --build DIR)" >&2; exit 2 ;;
  esac
done
WORK=$(mktemp -d /tmp/coraft-tls-cost.XXXXXX)
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ensure_built
certs=$WORK/certs
bash "$ROOT/test/tls/make_certs.sh" "$certs" ca ca
bash "$ROOT/test/tls/make_certs.sh" "$certs" cert node "IP:127.0.0.21,IP:127.0.0.22,IP:127.0.0.23" ca
PEER_FLAGS="--peer-cert $certs/node.crt --peer-key $certs/node.key --peer-ca $certs/ca.crt"
HTTPS_FLAGS="--http-cert $certs/node.crt --http-key $certs/node.key"
command -v wrk > /dev/null || need_packages wrk:wrk

declare -A runs
one() {  # one plain|peer|https
  rm -rf "$WORK/coraft"
  case $1 in
    plain) CORAFT_FLAGS="" ;;
    peer) CORAFT_FLAGS=$PEER_FLAGS ;;
    https) CORAFT_FLAGS="$PEER_FLAGS $HTTPS_FLAGS" ;;
  esac
  start_coraft
  local l="" url out scheme=http i
  [ "$1" = https ] && scheme=https
  for _ in $(seq 1 200); do
    for i in 1 2 3; do
      curl -sk --max-time 1 "$scheme://127.0.0.2$i:8101/v1/status" | grep -q '"role":"leader"' && l=$i
    done
    [ -n "$l" ] && break
    sleep 0.1
  done
  [ -n "$l" ] || die "$1: no leader after 20 s (logs in $WORK/coraft)"
  url="$scheme://127.0.0.2$l:8101"
  wrk -t2 -c"$CONNS" -d2s -s "$ROOT/bench/wrk/put.lua" "$url" -- coraft 100000 128 > /dev/null
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$ROOT/bench/wrk/put.lua" "$url" \
    -- coraft 100000 128 | tail -1)
  stop_all
  local line
  line=$(jq -r '"\(.ops_per_sec|floor) \(.p50_us|floor) \(.p99_us|floor)"' <<< "$out")
  log "$1: puts/s p50_us p99_us = $line"
  runs[$1]+="$line"$'\n'
}
for r in $(seq 1 "$ROUNDS"); do
  log "round $r of $ROUNDS"
  one plain
  one peer
  one https
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
printf '%-6s %10s %8s %8s   (medians of %s runs, %s connections, %s s)\n' mode puts/s p50_ms p99_ms "$ROUNDS" "$CONNS" "$DURATION"
for m in plain peer https; do
  rate=$(printf '%s' "${runs[$m]}" | awk 'NF {print $1}' | median)
  p50=$(printf '%s' "${runs[$m]}" | awk 'NF {print $2}' | median)
  p99=$(printf '%s' "${runs[$m]}" | awk 'NF {print $3}' | median)
  printf '%-6s %10.0f %8.2f %8.2f\n' "$m" "$rate" "$(echo "$p50 / 1000" | bc -l)" "$(echo "$p99 / 1000" | bc -l)"
done
