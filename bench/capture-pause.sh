#!/usr/bin/env bash
# bench/capture-pause.sh — how long does a snapshot capture pause coraft-kv's
# state machine, at 100,000 and 1,000,000 keys? (issue 19)
#
# A 3-node coraft-kv on 127.0.0.21-23 (bench/lib-clusters.sh) with automatic
# snapshots off; coraft-bench http --workload fill puts every key once
# (16-byte keys, 128-byte values, 64 connections). Then, SAMPLES times: one
# put (so that there is something new to snapshot), POST /v1/snapshot on
# every node, and each node's coraft_last_snapshot_capture_seconds (the
# state machine's pause: applies wait) and
# coraft_last_snapshot_persist_seconds (writing the image out on the
# snapshot thread while applies go on; 0 for a build without the split).
# Prints one line per key count: median and max pause over every node and
# sample, median persist time, the snapshot's size.
#   bash bench/capture-pause.sh                         # 100k and 1M keys, 5 samples
#   bash bench/capture-pause.sh --keys 100000 --samples 3
#   bash bench/capture-pause.sh --build /path/to/other/build   # the same, another build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build KEYS="100000 1000000" SAMPLES=5
while (($#)); do
  case $1 in
    --keys) KEYS=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    *) echo "capture-pause.sh: unknown flag '$1' (--keys 'N ...', --samples N, --build DIR)" >&2; exit 2 ;;
  esac
done
# The client is always this tree's (the load is the same whatever build serves it).
BENCH=$ROOT/build/bench/coraft-bench
WORK=$(mktemp -d /tmp/coraft-capture.XXXXXX)
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
[ "$BUILD" = "$ROOT/build" ] && ensure_built
[ -x "$BENCH" ] || die "build $BENCH first"
[ -x "$BUILD/apps/coraft-kv" ] || die "no $BUILD/apps/coraft-kv"

metric() {  # metric NODE NAME
  # awk reads everything (no early exit: curl would die of SIGPIPE).
  curl -s --max-time 5 "http://127.0.0.2$1:8101/v1/metrics" | awk -v n="$2" '!done && $1 ~ "^" n "(\\{|$)" {print $2; done = 1}'
}
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

for keys in $KEYS; do
  stop_all
  rm -rf "$WORK/coraft"
  CORAFT_FLAGS="--snapshot-entries 0 --snapshot-log-mb 0"
  start_coraft
  leader=$(wait_leader coraft)
  url=$(leader_url coraft "$leader")
  log "filling $keys keys"
  "$BENCH" http --target "$url" --connections 64 --duration 3600 --warmup 0 --workload fill --keys "$keys" \
    --value-size 128 --json | tail -1 >"$WORK/fill.json"
  pauses=() persists=() size=0
  for s in $(seq 1 "$SAMPLES"); do
    curl -s --max-time 10 -X PUT --data-binary "sample $s" "$url/v1/kv/capture-sample" >/dev/null
    for i in 1 2 3; do
      # Every node must have applied the put before it snapshots.
      sleep 0.2
      curl -s --max-time 600 -X POST "http://127.0.0.2$i:8101/v1/snapshot" >/dev/null
      pauses+=("$(metric "$i" coraft_last_snapshot_capture_seconds)")
      persists+=("$(metric "$i" coraft_last_snapshot_persist_seconds)")
    done
  done
  size=$(find "$WORK/coraft/n1" -name 'snap-*.snap' -printf '%s\n' | sort -n | tail -1)
  med=$(printf '%s\n' "${pauses[@]}" | median)
  max=$(printf '%s\n' "${pauses[@]}" | sort -g | tail -1)
  pmed=$(printf '%s\n' "${persists[@]:-0}" | { grep -v '^$' || true; } | median)
  printf 'keys=%s captures=%d pause_median_s=%s pause_max_s=%s persist_median_s=%s snapshot_bytes=%s build=%s\n' \
    "$keys" "${#pauses[@]}" "$med" "$max" "$pmed" "$size" "$BUILD"
done
