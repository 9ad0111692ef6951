#!/usr/bin/env bash
# bench/leadership.sh — does leadership stay put under plain load? (issue 21)
#
# A 3-node coraft-kv on 127.0.0.21-23 at its defaults (bench/lib-clusters.sh:
# election timeout 150-300 ms, heartbeat 50 ms, snapshots every 100,000
# entries), no fault; coraft-bench http puts 128-byte values at 64
# connections over a 1,000,000-key space. Then, from every node's
# /v1/metrics: elections started during the load (coraft_elections_total
# by timer or transfer; a pre-vote round counts), how far the term moved, the tick lag p99 (from the summed
# coraft_tick_lag_seconds buckets: the bucket bound it falls under) and max.
# The same with snapshots off, alternating, in the same run.
#   bash bench/leadership.sh                          # 3 runs of 600 s each
#   bash bench/leadership.sh --runs 1 --duration 60   # a quick look
#   bash bench/leadership.sh --runs 2 --modes snapshots
# One line per run and mode; a fresh cluster (empty data dirs) for each.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build RUNS=3 DURATION=600 CONNS=64 KEYS=1000000 MODES="snapshots snapshots-off"
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    *) echo "leadership.sh: unknown flag '$1' (--runs N, --duration S, --connections N, --keys N, --build DIR, --modes 'snapshots snapshots-off')" >&2
       exit 2 ;;
  esac
done
WORK=$(mktemp -d /tmp/coraft-leadership.XXXXXX)
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ensure_built

metrics() { curl -s --max-time 5 "http://127.0.0.2$1:8101/v1/metrics"; }

# Elections (pre-vote rounds included) the three nodes started, by timer
# or transfer, so far: one election after a won pre-vote counts once.
count_elections() {
  local i t=0
  for i in 1 2 3; do
    t=$((t + $(metrics "$i" | awk '$1 ~ /^coraft_elections_total\{.*reason="(timer|transfer)"/ {t += $2} END {print t + 0}')))
  done
  echo "$t"
}

one_run() {  # one_run RUN MODE
  local run=$1 mode=$2
  stop_all
  rm -rf "$WORK/coraft"
  CORAFT_FLAGS=""
  [ "$mode" = snapshots-off ] && CORAFT_FLAGS="--snapshot-entries 0 --snapshot-log-mb 0"
  start_coraft
  local leader term0 out
  leader=$(wait_leader coraft)
  term0=$(metrics "$leader" | awk '$1 ~ /^coraft_term\{/ {print $2}')
  local elections0
  elections0=$(count_elections)
  out=$("$BUILD/bench/coraft-bench" http --target "$(leader_url coraft "$leader")" --connections "$CONNS" \
    --duration "$DURATION" --warmup 1 --workload put --value-size 128 --keys "$KEYS" --json | tail -1)
  local elections term1=0 lagmax=0 i
  elections=$(($(count_elections) - elections0))
  for i in 1 2 3; do
    local m
    m=$(metrics "$i")
    term1=$(echo "$m" | awk -v t="$term1" '$1 ~ /^coraft_term\{/ && $2 > t {t = $2} END {print t}')
    lagmax=$(echo "$m" | awk -v t="$lagmax" '$1 ~ /^coraft_tick_lag_max_seconds\{/ && $2 > t {t = $2} END {print t}')
  done
  # The p99 of the tick lag over the three nodes' ticks: the smallest bucket
  # bound under which 99% of them fall.
  local lagp99
  lagp99=$(for i in 1 2 3; do metrics "$i"; done | awk '
    $1 ~ /^coraft_tick_lag_seconds_bucket\{/ {
      match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5); if (le != "+Inf") c[le] += $2
    }
    $1 ~ /^coraft_tick_lag_seconds_count\{/ { n += $2 }
    END { for (l in c) print l, c[l], n }' | sort -g | awk '$2 >= 0.99 * $3 { print $1; found = 1; exit } END { if (!found) print "\"+Inf\"" }')
  printf '{"run":%d,"mode":"%s","duration_s":%s,"connections":%s,"keys":%s,"elections":%d,"term_moved":%d,' \
    "$run" "$mode" "$DURATION" "$CONNS" "$KEYS" "$elections" "$((term1 - term0))"
  printf '"tick_lag_p99_le_s":%s,"tick_lag_max_s":%s,"bench":%s}\n' "$lagp99" "$lagmax" "$out"
}

for run in $(seq 1 "$RUNS"); do
  for mode in $MODES; do one_run "$run" "$mode"; done
done
