#!/usr/bin/env bash
# deploy_test.sh BUILD_DIR CORAFT_KV — the deployment files of apps/deploy/
# against the coraft-kv they deploy:
#   1. coraft-kv --version;
#   2. systemd-analyze verify on coraft-kv.service (ExecStart pointed at
#      CORAFT_KV in a copy), no warning allowed;
#   3. check_manifests.py: the Kubernetes manifests, the Dockerfile and the
#      unit against coraft-kv --help, its ldd libraries and each other;
#   4. entrypoint.sh with a stand-in binary: the id from the host name, the
#      defaults, what a flag, a variable or --config already sets, exec;
#   5. entrypoint.sh starting three real nodes (127.0.0.1 by the name
#      localhost, 127.0.0.72, 127.0.0.73) with HOSTNAME=coraft-0..2: /livez,
#      /readyz before and after a majority, a PUT through one node and a GET
#      on others, the unit's readiness check, SIGTERM -> exit 0 for each.
# The image is not built (no podman or container daemon here); one line says
# what would build it. A part whose tool is missing (systemd-analyze,
# python3 with PyYAML) is skipped with one line; then the exit code is 77
# (ctest: skipped) if everything else passed.
set -uo pipefail
build=$1
kv=$(readlink -f "$2")
src=$(cd "$(dirname "$0")/../.." && pwd)
deploy=$src/apps/deploy
entrypoint=$deploy/entrypoint.sh
tmp=$(mktemp -d /tmp/coraft-deploy-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failures=0
skipped=()
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
skip() {
  echo "SKIP: $*"
  skipped+=("$*")
}
# No CORAFT_* setting of the caller's environment reaches the nodes.
for v in $(compgen -e | grep '^CORAFT_' || true); do unset "$v"; done
echo "deploy_test: build $build, coraft-kv $kv"

echo "== 1. coraft-kv --version"
version=$("$kv" --version 2>&1)
rc=$?
if [ "$rc" != 0 ] || [ "$version" != "coraft-kv 0.1.0" ]; then
  fail "coraft-kv --version: exit $rc, '$version' (want 'coraft-kv 0.1.0')"
fi
"$kv" --help > "$tmp/help.txt" 2>&1 || fail "coraft-kv --help exits $?"

echo "== 2. systemd-analyze verify coraft-kv.service"
if command -v systemd-analyze > /dev/null; then
  mkdir -p "$tmp/unit"
  # /usr/bin/coraft-kv is not installed here: the copy runs the built one.
  sed "s#^ExecStart=/usr/bin/coraft-kv#ExecStart=$kv#" "$deploy/coraft-kv.service" > "$tmp/unit/coraft-kv.service"
  grep -q "^ExecStart=$kv" "$tmp/unit/coraft-kv.service" || fail "coraft-kv.service: no ExecStart=/usr/bin/coraft-kv"
  out=$(cd "$tmp/unit" && systemd-analyze verify --man=no --recursive-errors=no coraft-kv.service 2>&1)
  rc=$?
  [ -n "$out" ] && echo "$out"
  if [ "$rc" != 0 ] || grep -q 'coraft-kv' <<< "$out"; then
    fail "systemd-analyze verify coraft-kv.service: exit $rc, warnings above"
  else
    echo "ok: systemd-analyze verify: no warning ($(systemd-analyze --version | head -n 1))"
  fi
else
  skip "systemd-analyze not installed (apt-get install systemd, or bash .ci/setup --tests): the unit is not verified"
fi

echo "== 3. check_manifests.py (Kubernetes, Dockerfile, unit)"
python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" > /dev/null && "$p" -c 'import yaml' 2> /dev/null; then
    python=$p
    break
  fi
done
if [ -n "$python" ]; then
  "$python" "$(dirname "$0")/check_manifests.py" "$src" "$tmp/help.txt" "$kv" || fail "check_manifests.py: findings above"
else
  skip "python3 with PyYAML not installed (bash .ci/setup --tests): the manifests and the Dockerfile are not checked"
fi

echo "== 3b. the image's build stage: its COPY'd sources configure alone"
# What the build stage copies (COPY SRC... /src/..., not --from), into an
# empty tree, configured as the Dockerfile does: a file the build needs and
# the Dockerfile leaves out shows here, not in the first podman build.
mapfile -t copies < <(awk '/^FROM /{n++} n == 1 && /^COPY / && !/--from/ {for (i = 2; i < NF; i++) print $i}' "$deploy/Dockerfile")
if ((${#copies[@]} == 0)); then
  fail "Dockerfile: no COPY in the build stage"
else
  mkdir -p "$tmp/image-src"
  (cd "$src" && cp -r --parents "${copies[@]}" "$tmp/image-src/") || fail "Dockerfile: COPY of ${copies[*]} failed"
  if cmake -S "$tmp/image-src" -B "$tmp/image-build" -DCMAKE_BUILD_TYPE=Release -DCORAFT_BUILD_TESTS=OFF \
    -DCORAFT_BUILD_BENCH=OFF > "$tmp/image-cmake.log" 2>&1; then
    echo "ok: the build stage's sources (${copies[*]}) configure"
  else
    tail -n 20 "$tmp/image-cmake.log"
    fail "the Dockerfile's build stage sources do not configure (above)"
  fi
fi

echo "== 4. entrypoint.sh with a stand-in coraft-kv"
[ -x "$entrypoint" ] || fail "$entrypoint is not executable"
cat > "$tmp/fake-kv" << 'EOF'
#!/bin/sh
echo "pid=$$"
env | grep '^CORAFT_' | sort
for a in "$@"; do echo "arg=$a"; done
EOF
chmod +x "$tmp/fake-kv"
# ep NAME EXPECTED_RC [VAR=VALUE...] -- [ARGS...]: runs the entrypoint with the
# stand-in in a clean environment; its output in $tmp/ep.out.
ep() {
  local name=$1 want=$2
  shift 2
  local vars=()
  while [ "$1" != -- ]; do
    vars+=("$1")
    shift
  done
  shift
  env -i PATH=/usr/bin:/bin CORAFT_KV_BIN="$tmp/fake-kv" "${vars[@]}" "$entrypoint" "$@" > "$tmp/ep.out" 2>&1
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "entrypoint ($name): exit $rc, want $want; output: $(tr '\n' ' ' < "$tmp/ep.out")"
    return 1
  fi
}
has() { grep -qxF -- "$1" "$tmp/ep.out" || fail "entrypoint ($2): no line '$1' in: $(tr '\n' ' ' < "$tmp/ep.out")"; }
hasnt() { ! grep -q -- "$1" "$tmp/ep.out" || fail "entrypoint ($2): '$1' should not be set: $(tr '\n' ' ' < "$tmp/ep.out")"; }
if ep "pod coraft-2" 0 HOSTNAME=coraft-2 CORAFT_CLUSTER=c -- --log-level debug; then
  has CORAFT_ID=3 "pod coraft-2"
  has CORAFT_DATA_DIR=/var/lib/coraft/data "defaults"
  has CORAFT_LISTEN_RAFT=0.0.0.0:7001 "defaults"
  has CORAFT_LISTEN_HTTP=0.0.0.0:8001 "defaults"
  has CORAFT_CLUSTER=c "defaults"
  has arg=--log-level "arguments passed on"
  has arg=debug "arguments passed on"
  hasnt CORAFT_KV_BIN "its own variable"
fi
ep "pod coraft-10" 0 HOSTNAME=coraft-10 -- && has CORAFT_ID=11 "pod coraft-10"
ep "pod kv-east-08" 0 HOSTNAME=kv-east-08 -- && has CORAFT_ID=9 "pod kv-east-08 (08 is not octal)"
ep "CORAFT_ID set" 0 HOSTNAME=coraft-2 CORAFT_ID=7 -- && has CORAFT_ID=7 "CORAFT_ID set"
ep "--id 5" 0 HOSTNAME=coraft-2 -- --id 5 && hasnt CORAFT_ID "--id 5"
ep "--id=5" 0 HOSTNAME=coraft-2 -- --id=5 && hasnt CORAFT_ID "--id=5"
ep "no ordinal" 2 HOSTNAME=kvhost -- && has "coraft-entrypoint: no node id: set CORAFT_ID or --id, or run as a StatefulSet pod whose host name ends in its ordinal (coraft-2 -> id 3); the host name is 'kvhost'" "no ordinal"
ep "--version" 0 HOSTNAME=kvhost -- --version && has arg=--version "--version"
ep "a command" 0 HOSTNAME=kvhost -- echo hello && has hello "a command instead of flags"
ep "settings given" 0 HOSTNAME=coraft-0 CORAFT_LISTEN_RAFT=127.0.0.5:1 -- --data-dir=/d --listen-http 127.0.0.5:2 && {
  has CORAFT_LISTEN_RAFT=127.0.0.5:1 "CORAFT_LISTEN_RAFT set"
  hasnt CORAFT_DATA_DIR "--data-dir=/d"
  hasnt CORAFT_LISTEN_HTTP "--listen-http given"
}
printf '{"id": 4, "listen_http": "127.0.0.5:2",\n "data-dir": "/d"}\n' > "$tmp/node.json"
ep "--config" 0 HOSTNAME=coraft-0 -- --config "$tmp/node.json" && {
  hasnt CORAFT_ID "--config's id"
  hasnt CORAFT_LISTEN_HTTP "--config's listen_http"
  hasnt CORAFT_DATA_DIR "--config's data-dir"
  has CORAFT_LISTEN_RAFT=0.0.0.0:7001 "--config without listen-raft"
}
ep "--config=" 0 HOSTNAME=coraft-0 -- --config="$tmp/node.json" && hasnt CORAFT_LISTEN_HTTP "--config=FILE's listen_http"
ep "CORAFT_CONFIG" 0 HOSTNAME=coraft-0 CORAFT_CONFIG="$tmp/node.json" -- && hasnt CORAFT_DATA_DIR "CORAFT_CONFIG's data-dir"
env -i PATH=/usr/bin:/bin CORAFT_KV_BIN=/nonexistent HOSTNAME=coraft-0 "$entrypoint" > "$tmp/ep.out" 2>&1
rc=$?
if [ "$rc" != 2 ] || ! grep -q 'coraft-kv not found' "$tmp/ep.out"; then
  fail "entrypoint without a binary: exit $rc: $(cat "$tmp/ep.out")"
fi
# exec: the entrypoint's pid is the binary's.
env -i PATH=/usr/bin:/bin CORAFT_KV_BIN="$tmp/fake-kv" HOSTNAME=coraft-0 "$entrypoint" > "$tmp/ep.out" 2>&1 &
p=$!
wait "$p"
has "pid=$p" "exec: coraft-kv keeps the entrypoint's pid, so SIGTERM reaches it"
echo "ok: entrypoint dry runs ($failures failures so far)"

echo "== 5. three nodes started by entrypoint.sh"
host() { case $1 in 1) echo localhost ;; *) echo "127.0.0.7$1" ;; esac; }
raft_addr() { case $1 in 1) echo "$(host 1):17171" ;; *) echo "$(host "$1"):7001" ;; esac; }
http_addr() { case $1 in 1) echo "$(host 1):18171" ;; *) echo "$(host "$1"):8001" ;; esac; }
# Node 1 is named localhost in --cluster and listens on 127.0.0.1.
listen_raft() { case $1 in 1) echo 127.0.0.1:17171 ;; *) echo "127.0.0.7$1:7001" ;; esac; }
listen_http() { case $1 in 1) echo 127.0.0.1:18171 ;; *) echo "127.0.0.7$1:8001" ;; esac; }
cluster="1=$(raft_addr 1)/$(http_addr 1),2=$(raft_addr 2)/$(http_addr 2),3=$(raft_addr 3)/$(http_addr 3)"
start() {
  local i=$1
  shift
  env -i PATH="$PATH" HOSTNAME="coraft-$((i - 1))" CORAFT_KV_BIN="$kv" CORAFT_CLUSTER="$cluster" \
    CORAFT_DATA_DIR="$tmp/d$i" CORAFT_LISTEN_RAFT="$(listen_raft "$i")" CORAFT_LISTEN_HTTP="$(listen_http "$i")" \
    CORAFT_CLUSTER_ID=deploy-test "$entrypoint" "$@" > "$tmp/n$i.log" 2>&1 &
  pids[i]=$!
}
code() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 2 "$@" 2> /dev/null || true; }
logs() { for i in 1 2 3; do echo "--- node $i:"; tail -n 15 "$tmp/n$i.log" 2> /dev/null; done; }
started=1
# Node 1 first, alone (pods start in any order): live, not ready.
start 1 --log-level info
up=""
for _ in $(seq 1 100); do
  [ "$(code "http://$(http_addr 1)/livez")" = 200 ] && up=1 && break
  kill -0 "${pids[1]}" 2> /dev/null || break
  sleep 0.1
done
if [ -z "$up" ]; then
  fail "node 1 (coraft-0) does not answer /livez within 10 s"
  logs
  started=""
else
  grep -q '"status":"ok"' "$tmp/body" || fail "/livez body: $(cat "$tmp/body")"
  c=$(code "http://$(http_addr 1)/readyz")
  if [ "$c" != 503 ] || ! jq -e '.error == "not_ready" and (.message | type == "string")' "$tmp/body" > /dev/null 2>&1; then
    fail "/readyz of a node alone: $c $(cat "$tmp/body") (want 503 not_ready)"
  fi
  [ "$(readlink "/proc/${pids[1]}/exe")" = "$(readlink -f "$kv")" ] ||
    fail "node 1's pid ${pids[1]} runs $(readlink "/proc/${pids[1]}/exe"), not $kv: no exec?"
  grep -q 'coraft-entrypoint: node id 1 (host name coraft-0)' "$tmp/n1.log" || fail "node 1: no 'node id 1' line in its log"
fi
if [ -n "$started" ]; then
  start 2
  start 3 --data-dir "$tmp/d3"  # a flag beside the variable: the flag wins
  ready=()
  for _ in $(seq 1 300); do  # 30 s
    ready=()
    for i in 1 2 3; do
      [ "$(code "http://$(http_addr "$i")/readyz")" = 200 ] && ready+=("$i")
    done
    [ "${#ready[@]}" = 3 ] && break
    sleep 0.1
  done
  if [ "${#ready[@]}" != 3 ]; then
    fail "not all three nodes ready within 30 s (ready: ${ready[*]:-none})"
    for i in 1 2 3; do echo "node $i /readyz: $(code "http://$(http_addr "$i")/readyz") $(cat "$tmp/body")"; done
    logs
  else
    echo "ok: all three ready"
    for i in 1 2 3; do
      [ "$(code "http://$(http_addr "$i")/livez")" = 200 ] || fail "node $i /livez: not 200"
      id=$(curl -s --max-time 2 "http://$(http_addr "$i")/v1/status" | jq -r '.id // empty' 2> /dev/null)
      [ -z "$id" ] || [ "$id" = "$i" ] || fail "node $i (coraft-$((i - 1))) reports id $id"
    done
    c=$(code -L -X PUT --data-binary 'from node 2' "http://$(http_addr 2)/v1/kv/deploy-test")
    [ "$c" = 200 ] || fail "PUT through node 2: $c $(cat "$tmp/body")"
    for i in 3 1; do
      c=$(code -L "http://$(http_addr "$i")/v1/kv/deploy-test")
      if [ "$c" != 200 ] || [ "$(cat "$tmp/body")" != 'from node 2' ]; then
        fail "GET on node $i: $c '$(cat "$tmp/body")' (want 200 'from node 2')"
      fi
    done
    # The unit's readiness check (ExecStartPost, '$$' unescaped), against
    # node 1 as 0.0.0.0:18171 (-> 127.0.0.1) and node 2 as itself.
    post=$(sed -n "s/^ExecStartPost=-\/bin\/sh -c '\(.*\)'$/\1/p" "$deploy/coraft-kv.service" | sed 's/\$\$/$/g')
    if [ -z "$post" ]; then
      fail "coraft-kv.service: no ExecStartPost=-/bin/sh -c '...'"
    else
      for a in 0.0.0.0:18171 127.0.0.72:8001; do
        out=$(CORAFT_LISTEN_HTTP=$a timeout 10 sh -c "$post" 2>&1)
        rc=$?
        [ "$rc" = 0 ] || fail "the unit's readiness check with CORAFT_LISTEN_HTTP=$a: exit $rc $out"
      done
      echo "ok: the unit's ExecStartPost readiness check passes on ready nodes"
    fi
  fi
  # A bad flag through the entrypoint: coraft-kv's exit 2.
  env -i PATH="$PATH" HOSTNAME=coraft-0 CORAFT_KV_BIN="$kv" "$entrypoint" --no-such-flag > "$tmp/bad.out" 2>&1
  rc=$?
  [ "$rc" = 2 ] || fail "a bad flag through the entrypoint: exit $rc (want 2): $(cat "$tmp/bad.out")"
fi
# SIGTERM each node by pid, one at a time: each exits 0 within 15 s.
for i in 1 2 3; do
  p=${pids[$i]:-}
  [ -n "$p" ] || continue
  if ! kill -0 "$p" 2> /dev/null; then
    wait "$p"
    fail "node $i (pid $p) had already exited ($?)"
    unset "pids[$i]"
    continue
  fi
  kill -TERM "$p"
  t0=$SECONDS
  while kill -0 "$p" 2> /dev/null && [ $((SECONDS - t0)) -lt 15 ]; do sleep 0.1; done
  if kill -0 "$p" 2> /dev/null; then
    fail "node $i (pid $p) still runs 15 s after SIGTERM"
    logs
  else
    wait "$p"
    rc=$?
    unset "pids[$i]"
    [ "$rc" = 0 ] || { fail "node $i exited $rc after SIGTERM (want 0)"; logs; }
    echo "ok: node $i exited $rc after SIGTERM in $((SECONDS - t0)) s"
  fi
done

echo "== 6. the image"
echo "NOTE: the image is not built here (no podman or container daemon); to build it: podman build --format docker -f apps/deploy/Dockerfile -t coraft-kv ."

if [ "$failures" != 0 ]; then
  echo "deploy_test: $failures failures"
  exit 1
fi
if ((${#skipped[@]})); then
  echo "deploy_test: passed, but skipped: ${skipped[*]}"
  exit 77
fi
echo "deploy_test: passed"
