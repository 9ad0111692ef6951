#!/usr/bin/env bash
# bench/wrk-etcd.sh — puts at 64 connections with two clients: wrk (Debian's,
# a neutral client) and coraft-bench http, against a 3-node coraft-kv with
# snapshots every 100,000 entries (its default), the same with snapshots off,
# and a 3-node etcd (bench/lib-clusters.sh has their flags). 100,000-key
# space, 128-byte values, 10 s per measurement with no warm-up (wrk has
# none; coraft-bench is given none to match). Each round starts every
# system afresh (empty data) in turn and runs both clients one after the
# other on it, the orders alternating between rounds; only one cluster runs
# at a time. The table gives medians per system and client, and per system
# and window (the first or second 10 s on a fresh cluster, both clients),
# and each coraft system's puts/s over etcd's per round, client by client;
# every run's JSON line is in the results dir.
#   bash bench/wrk-etcd.sh                    # 2 rounds (~4 min)
#   bash bench/wrk-etcd.sh --rounds 5 --duration 20
# Flags: --rounds N [2], --duration S [10], --connections N [64], --keys N
# [100000], --value-size B [128], --systems LIST ["coraft coraft-nosnap
# etcd"], --build DIR [build], --results DIR [bench/results/wrk-DATE].
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build ROUNDS=2 DURATION=10 CONNS=64 KEYS=100000 VSIZE=128
SYSTEMS="coraft coraft-nosnap etcd" RESULTS=""
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --value-size) VSIZE=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "wrk-etcd.sh: unknown flag '$1' (see --help)" >&2; exit 2 ;;
  esac
done
RESULTS=${RESULTS:-$ROOT/bench/results/wrk-$(date +%Y%m%d-%H%M%S)}
WORK=$(mktemp -d /tmp/coraft-wrk.XXXXXX)
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"
CLIENT_PID=0
cleanup() { trap - EXIT INT TERM; stop_pid "$CLIENT_PID"; stop_all; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM
need_packages wrk:wrk etcd:etcd-server curl:curl jq:jq
ensure_built
mkdir -p "$RESULTS"
{
  echo "date: $(date -Iseconds)"
  echo "machine: $(nproc) cpus, $(free -g | awk '/Mem:/{print $2}') GiB; $(etcd --version | head -1); $(wrk -v 2>&1 | head -1)"
  echo "coraft: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "command: $0 rounds=$ROUNDS duration=$DURATION connections=$CONNS keys=$KEYS value_size=$VSIZE systems='$SYSTEMS'"
} | tee "$RESULTS/run-info.txt" >&2

# Runs one client in the background and waits for it, so that a signal to
# this script is handled at once.
run_bg() { "$@" & CLIENT_PID=$!; wait "$CLIENT_PID"; CLIENT_PID=0; }

measure() {  # measure ROUND SYSTEM: a fresh cluster, then both clients
  local round=$1 sys=$2 api=coraft url leader
  stop_all
  rm -rf "$WORK/coraft" "$WORK/etcd"
  # Whatever is still to reach the disk (the previous cluster's files, a
  # build just linked) goes now, not into this measurement's syncs.
  sync
  if [ "$sys" = etcd ]; then
    api=etcd; start_etcd; leader=$(wait_leader etcd)
  else
    CORAFT_FLAGS=""
    [ "$sys" = coraft-nosnap ] && CORAFT_FLAGS="--snapshot-entries 0 --snapshot-log-mb 0"
    start_coraft; leader=$(wait_leader coraft)
  fi
  url=$(leader_url "$api" "$leader")
  # Alternate which client goes first, too: the second 10 s on a cluster
  # are not the first (coraft-kv's log rolls to its second 64 MiB segment
  # about then, and a spare is zero-filled beside the load), so the table
  # keeps the two windows apart.
  local clients="wrk coraft-bench" window=0
  ((round % 2 == 0)) && clients="coraft-bench wrk"
  for client in $clients; do
    window=$((window + 1))
    log "round $round: $sys with $client -> $url"
    local line
    if [ "$client" = wrk ]; then
      line=$(run_bg wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$ROOT/bench/wrk/put.lua" "$url" \
        -- "$api" "$KEYS" "$VSIZE" | tail -1)
    else
      line=$(run_bg "$BUILD/bench/coraft-bench" http --api "$api" --target "$url" --connections "$CONNS" \
        --duration "$DURATION" --warmup 0 --timeout 10 --workload put --value-size "$VSIZE" --keys "$KEYS" --json | tail -1)
    fi
    echo "$line" | jq -c --arg s "$sys" --arg c "$client" --argjson r "$round" --argjson w "$window" \
      '{system: $s, client: $c, round: $r, window: $w, ops_per_sec, p50_us, p90_us, p99_us, max_us}' |
      tee -a "$RESULTS/runs.jsonl" >&2
  done
}

step=0
for round in $(seq 1 "$ROUNDS"); do
  order=$SYSTEMS
  ((round % 2 == 0)) && order=$(echo "$SYSTEMS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for sys in $order; do measure "$round" "$sys"; step=$((step + 1)); done
done
stop_all

# Medians (the mean of the middle two for an even count): per system and
# client over every round, then per system and window (first or second
# 10 s on a fresh cluster) over both clients. Then each coraft system's
# puts/s over etcd's in the same round with the same client: the median,
# lowest and highest over the rounds (the figure issue 19 names is this
# ratio with wrk).
MEDIAN='def median: sort | if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;'
{
  printf '%-14s %-16s | %9s %9s %9s %9s %5s\n' system "client / window" puts/s p50 p99 max runs
  jq -rs "$MEDIAN"'def med(f): map(f) | median;
    def row(k): [.[0].system, k, med(.ops_per_sec), med(.p50_us) / 1000, med(.p99_us) / 1000, med(.max_us) / 1000, length];
    (group_by(.system + " " + .client)[] | row(.[0].client)),
    (group_by(.system + " " + (.window | tostring))[] | row("window " + (.[0].window | tostring))) | @tsv' \
    "$RESULTS/runs.jsonl" |
    awk -F'\t' '{ printf "%-14s %-16s | %9.0f %6.2f ms %6.2f ms %6.2f ms %5d\n", $1, $2, $3, $4, $5, $6, $7 }'
  jq -rs "$MEDIAN"'[.[] | select(.system == "etcd")] as $etcd |
    [.[] | select(.system != "etcd") | . as $r |
      ($etcd | map(select(.round == $r.round and .client == $r.client)) | first) as $e |
      select($e != null) | {system, client, ratio: (.ops_per_sec / $e.ops_per_sec)}] |
    group_by(.system + " " + .client)[] | (map(.ratio) | sort) as $v |
    [.[0].system, .[0].client, ($v | median), $v[0], $v[-1], ($v | length)] | @tsv' "$RESULTS/runs.jsonl" |
    awk -F'\t' '{ printf "%-14s %-16s | %5.2fx etcd per round (lowest %.2fx, highest %.2fx; %d rounds)\n", $1, $2, $3, $4, $5, $6 }'
} | tee "$RESULTS/table.txt"
log "results in $RESULTS"
