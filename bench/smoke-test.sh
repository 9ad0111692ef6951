#!/usr/bin/env bash
# bench/smoke-test.sh BUILD_DIR — the ctest `bench_smoke` (label `bench`):
# every coraft-bench mode the README's figures come from runs and reports
# sane JSON. inproc with memory and file storage; http puts then
# linearizable gets against a 3-node coraft-kv on 127.0.0.61-63 (raft :7301,
# http :8301), errors in at most 1% of requests (a leader change on a loaded
# machine may fail a few); failover, 2 kills of the leader, each recovered
# well within the 1 s the README's target allows (5 s here: real time on a
# shared machine); bench/cpu-per-put.sh prints its figures. Every process
# it starts is stopped by pid on exit
# (SIGTERM, then SIGKILL after 5 s).
set -euo pipefail
B=$(cd "${1:?usage: smoke-test.sh BUILD_DIR}" && pwd)
fail() { echo "bench smoke: $*" >&2; exit 1; }
check() {  # check JSON JQ_CONDITION WHAT
  jq -e "$2" >/dev/null <<<"$1" || fail "$3: expected $2, got $1"
  echo "ok: $3"
}

for s in memory file; do
  out=$("$B/bench/coraft-bench" inproc --storage "$s" --clients 8 --duration 1 --json)
  check "$out" '.ops > 0 and .errors == 0 and .ops_per_sec > 0 and .p50_us > 0' "inproc --storage $s"
done

WORK=$(mktemp -d /tmp/coraft-bench-smoke.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
C=1=127.0.0.61:7301/127.0.0.61:8301,2=127.0.0.62:7301/127.0.0.62:8301,3=127.0.0.63:7301/127.0.0.63:8301
for i in 1 2 3; do
  "$B/apps/coraft-kv" --id "$i" --cluster "$C" --data-dir "$WORK/n$i" --log-level warn >>"$WORK/n$i.log" 2>&1 &
  pids+=($!)
done
leader=""
for _ in $(seq 1 200); do
  leader=$(curl -s --max-time 1 http://127.0.0.61:8301/v1/status | jq -r '.leader // empty' 2>/dev/null || true)
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || fail "no leader after 20 s: $(tail -n 3 "$WORK"/n*.log)"
# Through node 1 whether or not it leads: the client follows the 307.
out=$("$B/bench/coraft-bench" http --target http://127.0.0.61:8301 --connections 8 --duration 1 --warmup 0.5 \
  --workload put --json)
check "$out" '.puts > 0 and .error_total * 100 <= .requests and .ops_per_sec > 0' "http put"
out=$("$B/bench/coraft-bench" http --target http://127.0.0.61:8301 --connections 8 --duration 1 --warmup 0.5 \
  --workload get --json)
check "$out" '.gets > 0 and .error_total * 100 <= .requests and .ops_per_sec > 0' "http linearizable get"

# bench/cpu-per-put.sh (its own cluster on 127.0.0.21-23) prints its figures.
out=$(bash "$(dirname "$0")/cpu-per-put.sh" --build "$B" --connections 4 --duration 1)
grep -qE '^[0-9]+ puts/s, [1-9][0-9]* entries committed; CPU per put: nodes [0-9]+ us' <<<"$out" &&
  [ "$(grep -c 'group commits/s' <<<"$out")" -eq 3 ] || fail "cpu-per-put.sh printed: $out"
echo "ok: cpu-per-put.sh"

out=$("$B/bench/coraft-bench" failover --system coraft --runs 2 --json)
check "$out" '.recovered == 2 and .failed == 0 and .max_ms > 0 and .max_ms < 5000' "failover, 2 runs"

# snapshot-install: a 64 MiB state installed on a new learner, copied byte
# for byte, with memory beyond the state under the issue's 256 MiB; with
# --observer, the stream silences no follower: a gap that appeared during
# the install stays under the shortest election timeout (node_options: 15
# ticks of 10 ms, 150 ms; heartbeats every 50 ms). A gap of the fill before
# it is reported, not asserted: it is not the stream's.
out=$("$B/bench/coraft-bench" snapshot-install --size-mb 64 --json)
check "$out" '.install_s > 0 and .rss_minus_state_bytes < 268435456' "snapshot-install 64 MiB"
out=$("$B/bench/coraft-bench" snapshot-install --size-mb 64 --observer --json)
check "$out" '.heartbeat_gap_before_install_ms as $b | .writes_during_install > 0 and
  (.heartbeat_gap_ms | length) == 2 and
  ([.heartbeat_gap_ms | to_entries[] | select(.value > ($b[.key] // 0) and .value >= 150)] | length) == 0' \
  "snapshot-install --observer: no heartbeat gap of an election timeout (150 ms) during the install"
