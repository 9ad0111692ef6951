#!/usr/bin/env bash
# bench/cpu-per-put.sh — where a put's CPU goes: a 3-node coraft-kv on
# 127.0.0.21-23 (bench/lib-clusters.sh), a warm-up, then one coraft-bench
# http put load; prints puts/s, CPU per committed entry of the three nodes
# (utime+stime from /proc), of the leader alone and of the client, and the
# group commits (storage writes) per second and entries per write of the
# leader and the followers, from /v1/metrics.
#   bash bench/cpu-per-put.sh                       # 64 connections, 10 s
#   bash bench/cpu-per-put.sh --connections 256 --duration 10 --build build-old
# Alternate two --build dirs to compare two binaries.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build CONNS=64 DURATION=10
while (($#)); do
  case $1 in
    --connections) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    *) echo "cpu-per-put.sh: unknown flag '$1' (--connections N, --duration S, --build DIR)" >&2; exit 2 ;;
  esac
done
WORK=$(mktemp -d /tmp/coraft-cpu.XXXXXX)
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ensure_built
start_coraft
L=$(wait_leader coraft)
URL=$(leader_url coraft "$L")
"$BUILD/bench/coraft-bench" http --target "$URL" --connections "$CONNS" --duration 3 --workload put >/dev/null

ticks() {  # utime+stime of the given pids, in clock ticks
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
metric() { curl -s "http://127.0.0.2$1:8101/v1/metrics" | awk -v m="$2" '$1 ~ "^"m"[{ ]" {print $2}'; }
snapshot() {  # commit index, node ticks, leader ticks, storage writes and entries per node
  echo "$(metric "$L" coraft_commit_index) $(ticks "${CORAFT_PIDS[@]}") $(ticks "${CORAFT_PIDS[$((L - 1))]}")" \
    "$(for i in 1 2 3; do echo -n "$(metric "$i" coraft_storage_writes_total) $(metric "$i" coraft_storage_entries_total) "; done)"
}
read -r c0 n0 l0 w10 e10 w20 e20 w30 e30 <<<"$(snapshot)"
TIMEFORMAT='%U %S'
client=$( { time "$BUILD/bench/coraft-bench" http --target "$URL" --connections "$CONNS" --duration "$DURATION" \
  --warmup 0 --workload put --json >"$WORK/load.json"; } 2>&1 )
read -r c1 n1 l1 w11 e11 w21 e21 w31 e31 <<<"$(snapshot)"
hz=$(getconf CLK_TCK)
puts=$((c1 - c0))
awk -v puts="$puts" -v n="$((n1 - n0))" -v l="$((l1 - l0))" -v hz="$hz" -v client="$client" -v d="$DURATION" \
  -v ops="$(jq .ops_per_sec "$WORK/load.json")" -v L="$L" \
  -v w="$((w11 - w10)) $((w21 - w20)) $((w31 - w30))" -v e="$((e11 - e10)) $((e21 - e20)) $((e31 - e30))" 'BEGIN {
  split(client, c, " "); split(w, W, " "); split(e, E, " ")
  printf "%.0f puts/s, %d entries committed; CPU per put: nodes %.0f us (leader %.0f us), client %.0f us\n",
    ops, puts, n / hz * 1e6 / puts, l / hz * 1e6 / puts, (c[1] + c[2]) * 1e6 / puts
  for (i = 1; i <= 3; i++)
    printf("node %d%s: %.0f group commits/s, %.1f entries each\n", i, (i == L ? " (leader)" : ""), W[i] / d,
      (W[i] > 0 ? E[i] / W[i] : 0))
}'
