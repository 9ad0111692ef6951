#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR SEPARATE — coraft as a user gets it:
#   1. `cmake --install BUILD_DIR` into a temporary prefix installs the
#      headers, coraft::core/raft/net, the CMake package and coraft-kv, and
#      nothing test-only; the exported targets carry no warnings, sanitizers,
#      tcmalloc or Asio mode of coraft's build (SEPARATE=1: a build with
#      CORAFT_ASIO_SEPARATE_COMPILATION, whose package exports that mode).
#   2. apps/example-counter, a project of its own (find_package(coraft 0.1)),
#      configures and builds against that prefix, with none of those flags
#      on its compile or link lines; its main.cpp is at most 60 lines.
#   3. Three nodes of it (127.0.0.31-33, raft :29101, HTTP :29201) elect a
#      leader; adds through a follower (307, followed) and the leader reach
#      every node's linearizable read; SIGTERM stops each with exit code 0
#      within 20 s, the leader first (it hands leadership over).
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
separate=${3:-0}
tmp=$(mktemp -d /tmp/coraft-install-test-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/n*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}
step() { echo "== $*"; }

step "cmake --install $build --prefix $tmp/prefix"
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
libdir=$(dirname "$(find "$prefix" -name coraftConfig.cmake -path '*/cmake/coraft/*')")
[ -n "$libdir" ] || fail "no coraftConfig.cmake installed"
libdir=$(cd "$libdir/../.." && pwd)
for f in include/coraft/node.hpp include/coraft/state_machine.hpp include/coraft/core/raft.hpp \
  include/coraft/net/http.hpp include/coraft/net/service.hpp bin/coraft-kv; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
for lib in coraft_core coraft_raft coraft_net; do
  [ -f "$libdir/lib$lib.a" ] || fail "not installed: lib$lib.a"
done
for f in coraftConfig.cmake coraftConfigVersion.cmake coraftTargets.cmake; do
  [ -f "$libdir/cmake/coraft/$f" ] || fail "not installed: $f"
done
# Test-only libraries and the other programs stay in the build.
unwanted=$(find "$prefix" \( -name '*planted*' -o -name '*faults*' -o -name '*test_support*' -o -name 'coraft-bench' \
  -o -name 'coraft-chaos' -o -name 'coraft-sim' -o -name 'coraft-kv-faults' -o -name '*kv_lib*' -o -name '*chaos*' \
  -o -name '*process*' \))
[ -z "$unwanted" ] || fail "test-only files installed: $unwanted"

step "the exported targets carry no build flags of coraft's"
targets=$(cat "$libdir"/cmake/coraft/coraftTargets*.cmake)
for bad in coraft_warnings coraft_sanitizers coraft_malloc tcmalloc -fsanitize -Werror -Wall "$src" "$build"; do
  if grep -qF -- "$bad" <<< "$targets"; then fail "coraftTargets.cmake mentions '$bad'"; fi
done
# The Asio mode: none from a default build; a separately compiled one is
# exported whole (both definitions and NO_DEPRECATED, the library is built so).
if [ "$separate" != 1 ] && grep -qE 'SEPARATE_COMPILATION|BOOST_ASIO_NO_DEPRECATED' <<< "$targets"; then
  fail "coraftTargets.cmake exports an Asio/Beast compile mode from a header-only build"
fi
if [ "$separate" = 1 ] && ! grep -q BOOST_ASIO_SEPARATE_COMPILATION <<< "$targets"; then
  fail "a CORAFT_ASIO_SEPARATE_COMPILATION build must export its mode"
fi
grep -q 'find_dependency(Boost 1.81 CONFIG COMPONENTS json url)' "$libdir/cmake/coraft/coraftConfig.cmake" ||
  fail "coraftConfig.cmake does not find Boost for its user"

main=$src/apps/example-counter/main.cpp
lines=$(wc -l < "$main")
step "example-counter: main.cpp has $lines lines (at most 60)"
[ "$lines" -le 60 ] || fail "apps/example-counter/main.cpp has $lines lines, more than 60"

step "configure and build apps/example-counter against the prefix"
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$src/apps/example-counter" -B "$tmp/counter" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "${launcher[@]}" > "$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configuring example-counter"; }
cmake --build "$tmp/counter" -j2 > "$tmp/build.log" 2>&1 || { tail -n 60 "$tmp/build.log"; fail "building example-counter"; }
counter=$tmp/counter/example-counter
[ -x "$counter" ] || fail "no example-counter binary"

step "the example's compile and link lines carry none of coraft's build flags"
compile=$(jq -r '.[].command' "$tmp/counter/compile_commands.json")
echo "$compile" | sed 's/^/  /'
link=$(cat "$tmp"/counter/CMakeFiles/example-counter.dir/link.txt)
for bad in -fsanitize -Werror -Wall -Wextra -Wpedantic -Wshadow tcmalloc; do
  if grep -qF -- "$bad" <<< "$compile$link"; then fail "'$bad' reached the example's build"; fi
done
if grep -qE -- '(^| )-W[^l]' <<< "$compile"; then fail "a warning flag reached the example's compile line"; fi
grep -qF -- "-I$prefix/include" <<< "$compile" || grep -qF -- "-isystem $prefix/include" <<< "$compile" ||
  fail "the example does not compile against the installed headers"
if [ "$separate" != 1 ] && grep -qE 'SEPARATE_COMPILATION|BOOST_ASIO_NO_DEPRECATED' <<< "$compile"; then
  fail "the example got an Asio/Beast compile mode: it must stay header-only"
fi

step "three nodes on 127.0.0.31-33, mutual TLS between them and HTTPS (run_service's TLS flags)"
host() { echo "127.0.0.$((30 + $1))"; }
certs=$tmp/certs
make_certs=$(cd "$(dirname "$0")/../tls" && pwd)/make_certs.sh
bash "$make_certs" "$certs" ca ca
for i in 1 2 3; do bash "$make_certs" "$certs" cert "n$i" "IP:$(host "$i")" ca; done
cluster="1=$(host 1):29101/$(host 1):29201,2=$(host 2):29101/$(host 2):29201,3=$(host 3):29101/$(host 3):29201"
for i in 1 2 3; do
  "$counter" --id "$i" --cluster "$cluster" --data-dir "$tmp/d$i" \
    --peer-cert "$certs/n$i.crt" --peer-key "$certs/n$i.key" --peer-ca "$certs/ca.crt" \
    --http-cert "$certs/n$i.crt" --http-key "$certs/n$i.key" > "$tmp/n$i.log" 2>&1 &
  pids+=($!)
done
url() { echo "https://$(host "$1"):29201$2"; }
curl() { command curl --cacert "$certs/ca.crt" "$@"; }

# Polls GET /v1/status until one node leads and every node names it (so a
# follower can redirect to it), within 60 s.
leader=""
deadline=$((SECONDS + 60))
while [ -z "$leader" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "no leader known to all three nodes within 60 s"
  for i in 1 2 3; do
    kill -0 "${pids[$((i - 1))]}" 2> /dev/null || fail "node $i exited at start"
  done
  seen=""
  candidate=""
  for i in 1 2 3; do
    st=$(curl -sf --max-time 2 "$(url "$i" /v1/status)" | jq -r '"\(.role) \(.leader)"' 2> /dev/null || true)
    [ "${st% *}" = leader ] && [ "${st#* }" = "$i" ] && candidate=$i
    seen+="${st#* } "
  done
  if [ -n "$candidate" ] && [ "$seen" = "$candidate $candidate $candidate " ]; then
    leader=$candidate
  else
    sleep 0.2
  fi
done
follower=$((leader % 3 + 1))
echo "  leader: node $leader, writing through node $follower too"

post() {  # post NODE BODY -> the answer's value
  curl -sSf -L --max-time 10 -X POST --data-binary "$2" "$(url "$1" /v1/counter/add)" | jq -r .value
}
v=$(post "$follower" 5) || fail "POST through follower $follower"
[ "$v" = 5 ] || fail "add 5 through the follower answered $v, not 5"
v=$(post "$leader" 30) || fail "POST to leader $leader"
[ "$v" = 35 ] || fail "add 30 at the leader answered $v, not 35"
v=$(post "$leader" "") || fail "POST +1 to leader $leader"
[ "$v" = 36 ] || fail "add (empty: +1) answered $v, not 36"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary nope "$(url "$leader" /v1/counter/add)")
[ "$code" = 400 ] || fail "a body that is no number answered $code, not 400"
for i in 1 2 3; do
  v=$(curl -sSf --max-time 10 "$(url "$i" /v1/counter)" | jq -r .value) || fail "GET /v1/counter on node $i"
  [ "$v" = 36 ] || fail "node $i reads $v after a read barrier, not 36"
  echo "  node $i reads 36"
done

# SIGTERM: the leader first (it hands leadership over), then the others.
stop() {  # stop NODE...: SIGTERM each, each must exit 0 within 20 s
  for i in "$@"; do kill -TERM "${pids[$((i - 1))]}"; done
  local deadline=$((SECONDS + 20))
  for i in "$@"; do
    local p=${pids[$((i - 1))]}
    while [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2> /dev/null)" != Z ]; do
      [ "$SECONDS" -lt "$deadline" ] || fail "node $i still running 20 s after SIGTERM"
      sleep 0.1
    done
    local rc=0
    wait "$p" || rc=$?
    [ "$rc" = 0 ] || fail "node $i exited with $rc after SIGTERM"
    echo "  node $i stopped (exit 0)"
  done
}
stop "$leader"
grep -q "leadership handed to node" "$tmp/n$leader.log" || echo "  (note: the leader did not hand over before stopping)"
stop $(for i in 1 2 3; do [ "$i" = "$leader" ] || echo "$i"; done)
pids=()
echo "install_test: OK"
