#!/usr/bin/env bash
# bench/metrics-cost.sh — what the latency histograms cost on the put path
# (issue 20): puts/s with them on and off, alternating on/off ROUNDS times
# in one run so that a drift of the machine's speed falls on both sides;
# prints every run and the medians of puts/s and of CPU per put (less
# sensitive than throughput to other load on the machine).
#   inproc: coraft-bench inproc --clients CONNS --storage memory (3 nodes
#           in one process: the CPU cost, nothing hides it)
#   http:   a 3-node coraft-kv on 127.0.0.21-23 (bench/lib-clusters.sh,
#           --fsync always), coraft-bench http --workload put --connections
#           CONNS against the leader, a fresh cluster per run
# On: the defaults (node and HTTP histograms); off: --latency-histograms
# false on both coraft-bench inproc and coraft-kv.
#   bash bench/metrics-cost.sh                                # 5 rounds, 64 connections, 5 s runs
#   bash bench/metrics-cost.sh --rounds 7 --duration 10 --only http
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build CONNS=64 DURATION=5 ROUNDS=5 ONLY=""
while (($#)); do
  case $1 in
    --connections) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    *) echo "metrics-cost.sh: unknown flag '$1' (--connections N, --duration S, --rounds N, --only inproc|http, --build DIR)" >&2
       exit 2 ;;
  esac
done
WORK=$(mktemp -d /tmp/coraft-metrics-cost.XXXXXX)
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ensure_built
BENCH=$BUILD/bench/coraft-bench

ticks() {  # utime+stime of the given pids, in clock ticks
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

inproc_run() {  # inproc_run true|false — prints "puts/s CPU-us-per-put" (the whole process's CPU)
  local out cpu
  TIMEFORMAT='%U %S'
  cpu=$( { time "$BENCH" inproc --clients "$CONNS" --duration "$DURATION" --storage memory \
    --latency-histograms "$1" --json >"$WORK/inproc.json"; } 2>&1 )
  out=$(jq -r '"\(.ops_per_sec) \(.ops)"' "$WORK/inproc.json")
  awk -v o="$out" -v c="$cpu" 'BEGIN { split(o, O, " "); split(c, C, " "); printf "%.0f %.2f\n", O[1], (C[1] + C[2]) * 1e6 / O[2] }'
}

http_run() {  # http_run true|false — prints "puts/s CPU-us-per-put" (the three nodes' CPU per committed entry)
  rm -rf "$WORK/coraft"
  CORAFT_FLAGS="--latency-histograms $1" start_coraft
  local l url c0 c1 t0 t1 ops
  l=$(wait_leader coraft)
  url=$(leader_url coraft "$l")
  "$BENCH" http --target "$url" --connections "$CONNS" --duration 1 --warmup 0 --workload put >/dev/null
  commit() { curl -s "$url/v1/metrics" | awk '$1 ~ /^coraft_commit_index[{ ]/ {print $2}'; }
  c0=$(commit) t0=$(ticks "${CORAFT_PIDS[@]}")
  ops=$("$BENCH" http --target "$url" --connections "$CONNS" --duration "$DURATION" --warmup 0 --workload put --json |
    jq -r .ops_per_sec)
  c1=$(commit) t1=$(ticks "${CORAFT_PIDS[@]}")
  stop_all
  awk -v o="$ops" -v t="$((t1 - t0))" -v n="$((c1 - c0))" -v hz="$HZ" 'BEGIN { printf "%.0f %.2f\n", o, t / hz * 1e6 / n }'
}

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

for mode in inproc http; do
  [ -z "$ONLY" ] || [ "$ONLY" = "$mode" ] || continue
  : >"$WORK/$mode-true" && : >"$WORK/$mode-false"
  for r in $(seq 1 "$ROUNDS"); do
    for on in true false; do
      v=$("${mode}_run" "$on")
      echo "$v" >>"$WORK/$mode-$on"
      log "$mode round $r histograms=$on: $v (puts/s, CPU us per put)"
    done
  done
  for col in 1 2; do
    on=$(cut -d' ' -f$col "$WORK/$mode-true" | median) off=$(cut -d' ' -f$col "$WORK/$mode-false" | median)
    awk -v m="$mode" -v on="$on" -v off="$off" -v c="$CONNS" -v n="$ROUNDS" -v what="$([ $col = 1 ] && echo "puts/s" || echo "CPU us/put")" \
      -v a="$(cut -d' ' -f$col "$WORK/$mode-true" | paste -sd' ')" -v b="$(cut -d' ' -f$col "$WORK/$mode-false" | paste -sd' ')" 'BEGIN {
      printf "%s, %d connections, %d runs each, %s: histograms on median %g [%s], off median %g [%s]: on/off %.3f\n",
        m, c, n, what, on, a, off, b, on / off }'
  done
done
