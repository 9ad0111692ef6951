#!/usr/bin/env bash
# bench/run-all.sh — every measurement of the README's summary table into one
# results folder, then the figures:
#   1. compare-etcd.sh (puts then linearizable gets, coraft-kv vs etcd, + etcd gRPC puts)
#   2. coraft-bench failover, coraft then etcd (heartbeat 50 ms, election timeout 300 ms)
#   3. coraft-election-experiment (Figure 16), 1,000 trials per line
#   4. coraft-bench inproc, engine only (memory) and durable (file, fsync), 1, 64 and 256 clients
#   5. plot.sh
#   bash bench/run-all.sh                       # ~12 min on 2 cores
#   QUICK=1 bash bench/run-all.sh               # a smoke run: short loads, 3 failovers, 50 trials
#   REPEAT=3 bash bench/run-all.sh              # every compare point 3 times (medians), ~25 min
# Env: RESULTS (default bench/results/all-DATE), BUILD (build), FAILOVER_RUNS (20), TRIALS (1000),
# REPEAT (1; passed on to compare-etcd.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RESULTS=${RESULTS:-$ROOT/bench/results/all-$(date +%Y%m%d-%H%M%S)}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  FAILOVER_RUNS=${FAILOVER_RUNS:-3}; TRIALS=${TRIALS:-50}; compare_flags=(--quick)
else
  FAILOVER_RUNS=${FAILOVER_RUNS:-20}; TRIALS=${TRIALS:-1000}; compare_flags=()
fi
mkdir -p "$RESULTS"
# (flock: one build at a time on a machine shared with other builds)
flock /tmp/coraft-build.lock cmake --build "$BUILD" -j2 --target coraft-kv coraft-bench coraft-election-experiment >/dev/null
echo "== compare (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
bash "$ROOT/bench/compare-etcd.sh" --grpc --results "$RESULTS" "${compare_flags[@]}"
for sys in coraft etcd; do
  echo "== failover $sys, $FAILOVER_RUNS runs (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$BUILD/bench/coraft-bench" failover --system "$sys" --runs "$FAILOVER_RUNS" --json >"$RESULTS/failover-$sys.json" ||
    echo "failover $sys: some runs did not recover (see $RESULTS/failover-$sys.json)" >&2
  jq -c '{system, recovered, min_ms, median_ms, p90_ms, max_ms}' "$RESULTS/failover-$sys.json"
done
echo "== Figure 16, $TRIALS trials per line" >&2
"$BUILD/test/sim/coraft-election-experiment" --trials "$TRIALS" --configs raft,prevote,coraft --out "$RESULTS" |
  tee "$RESULTS/election.txt"
if [ "$QUICK" = 1 ]; then inproc_s=1; else inproc_s=10; fi
for storage in memory file; do
  for c in 1 64 256; do
    echo "== inproc $storage, $c clients, ${inproc_s} s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$BUILD/bench/coraft-bench" inproc --storage "$storage" --clients "$c" --duration "$inproc_s" --json |
      tee "$RESULTS/inproc-$storage-c$c.json"
  done
done
bash "$ROOT/bench/plot.sh" "$RESULTS"
echo "results: $RESULTS" >&2
