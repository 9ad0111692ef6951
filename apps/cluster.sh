#!/usr/bin/env bash
# Sets up and starts a local 3-node coraft-kv cluster on 127.0.0.11-13,
# waits for a leader, prints each node's status and curl examples, and stops
# all three cleanly (SIGTERM) on Ctrl-C.
#   bash apps/cluster.sh            # data in ./data (kept between runs)
#   CORAFT_DATA=/tmp/kv bash apps/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
# Its own build folder (Release): the test command builds `build`
# (RelWithDebInfo), and neither reconfigures the other's tree.
build=${CORAFT_BUILD_DIR:-build-release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target coraft-kv
data=${CORAFT_DATA:-$PWD/data}
cluster="1=127.0.0.11:7001/127.0.0.11:8001,2=127.0.0.12:7001/127.0.0.12:8001,3=127.0.0.13:7001/127.0.0.13:8001"
pids=()
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    echo; echo "stopping ${pids[*]} (SIGTERM)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT
for i in 1 2 3; do
  mkdir -p "$data/node$i"
  "./$build/apps/coraft-kv" --id "$i" --cluster "$cluster" --data-dir "$data/node$i" \
    >>"$data/node$i.log" 2>&1 &
  pids+=($!)
done
echo "started nodes 1-3 (pids ${pids[*]}); logs in $data/node*.log"
leader=""
for _ in $(seq 1 100); do
  for n in 0 1 2; do
    if ! kill -0 "${pids[$n]}" 2>/dev/null; then
      echo "node $((n + 1)) exited; the end of $data/node$((n + 1)).log:" >&2
      tail -5 "$data/node$((n + 1)).log" >&2
      exit 1
    fi
  done
  for i in 1 2 3; do
    s=$(curl -s --max-time 1 "http://127.0.0.1$i:8001/v1/status" || true)
    if echo "$s" | grep -q '"role":"leader"'; then leader=$i; fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
if [ -z "$leader" ]; then
  echo "no leader after 10 s; see $data/node*.log" >&2
  exit 1
fi
for i in 1 2 3; do
  echo "node $i: $(curl -s "http://127.0.0.1$i:8001/v1/status")"
done
cat <<EOT

Leader: node $leader (http://127.0.0.1$leader:8001). Try, in another terminal:
  curl -X PUT --data-binary 'world' http://127.0.0.1$leader:8001/v1/kv/hello
  curl http://127.0.0.1$leader:8001/v1/kv/hello
  curl -L -X PUT --data-binary 'via a follower' http://127.0.0.11:8001/v1/kv/redirected   # -L follows 307 to the leader
  curl 'http://127.0.0.12:8001/v1/kv/hello?stale'
  curl 'http://127.0.0.1$leader:8001/v1/kv?prefix=he'
  curl -s http://127.0.0.11:8001/v1/status | jq .
  curl -s http://127.0.0.11:8001/v1/metrics | grep ^coraft_commit
Ctrl-C stops all three.
EOT
wait "${pids[@]}"
