#!/usr/bin/env bash
# multi_host_test.sh BUILD_DIR — coraft-kv on three "hosts" that know each
# other by name only (issue 17): three network namespaces (test/netns/
# hosts.sh), each node's /etc/hosts naming the others as DNS would, every
# node configured through the environment (CORAFT_*), listening on 0.0.0.0
# and advertising its name, peers talking mutual TLS and clients HTTPS, with
# certificates that name the hosts (test/tls/make_certs.sh). Checks:
#   - nodes started before their names resolve (pods come up in any order)
#     retry, and form the cluster by names once DNS knows them; /livez and
#     /readyz answer; writes through a follower follow the 307 to the
#     leader's name;
#   - a peer with a certificate from another CA is refused;
#   - a leader cut off by its host's firewall is replaced, and catches up
#     after the heal;
#   - a node killed and restarted under the same name on a new address is
#     found there (names are resolved again on every connection) and
#     catches up;
#   - SIGTERM stops every node with exit 0.
# Needs root (network namespaces, iptables); elsewhere it says so and is
# skipped (exit 77). Traffic stays in the namespaces it makes (10.79.0.0/24).
set -euo pipefail
build=$1
kv=$build/apps/coraft-kv
hosts=$(cd "$(dirname "$0")/../netns" && pwd)/hosts.sh
skip() { echo "multi_host_test: SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to make network namespaces"
command -v iptables > /dev/null || skip "needs iptables (apt-get install iptables)"
export CORAFT_NETNS_SUBNET=10.79.0
prefix=mhost
tmp=$(mktemp -d /tmp/coraft-multi-host-XXXXXX)
declare -A pid addr
cleanup() {
  for p in "${pid[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2> /dev/null || true; done
  bash "$hosts" down "$prefix" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for i in 1 2 3; do
    echo "--- node $i: $(status "$i" | jq -c '{role, term, leader, commit_index, applied_index}' 2> /dev/null)" >&2
    tail -n 25 "$tmp/n$i.log" >&2 || true
  done
  exit 1
}
if ! bash "$hosts" up "$prefix" 3 > "$tmp/hosts.out" 2>&1; then
  skip "network namespaces cannot be made here: $(tail -n 1 "$tmp/hosts.out")"
fi

name() { echo "node$1.coraft.test"; }
for i in 1 2 3; do addr[$i]=10.79.0.$((10 + i)); done
publish_names() { bash "$hosts" names "$prefix" "$(name 1)=${addr[1]}" "$(name 2)=${addr[2]}" "$(name 3)=${addr[3]}"; }
certs=$tmp/certs
tls_dir=$(cd "$(dirname "$0")/../tls" && pwd)
make_certs=$tls_dir/make_certs.sh
mk() { bash "$make_certs" "$certs" "$@"; }
mk ca ca
for i in 1 2 3; do mk cert "n$i" "DNS:$(name "$i")" ca; done
cluster="1=$(name 1):7001/$(name 1):8001,2=$(name 2):7001/$(name 2):8001,3=$(name 3):7001/$(name 3):8001"
start() {
  local i=$1
  ip netns exec "$prefix-n$i" env CORAFT_ID="$i" CORAFT_CLUSTER="$cluster" CORAFT_DATA_DIR="$tmp/d$i" \
    CORAFT_LISTEN_RAFT=0.0.0.0:7001 CORAFT_LISTEN_HTTP=0.0.0.0:8001 CORAFT_LOG_LEVEL=info \
    CORAFT_PEER_CERT="$certs/n$i.crt" CORAFT_PEER_KEY="$certs/n$i.key" CORAFT_PEER_CA="$certs/ca.crt" \
    CORAFT_HTTP_CERT="$certs/n$i.crt" CORAFT_HTTP_KEY="$certs/n$i.key" \
    "$kv" >> "$tmp/n$i.log" 2>&1 &
  pid[$i]=$!
}
# curl from the test's own namespace, which has no such names: --resolve
# gives it the hosts' current addresses, so -L follows a 307 to a name.
http() {
  local args=(-s --max-time 3 --cacert "$certs/ca.crt")
  for i in 1 2 3; do args+=(--resolve "$(name "$i"):8001:${addr[$i]}"); done
  curl "${args[@]}" "$@" || true
}
code() { http -o /dev/null -w '%{http_code}' "$@"; }
status() { http "https://$(name "$1"):8001/v1/status"; }
leader_of() { status "$1" | jq -r 'select(.leader != null and .leader != 0) | .leader' 2> /dev/null || true; }
put() { code -L -X PUT --data-binary "$3" "https://$(name "$1"):8001/v1/kv/$2"; }
get() { http "https://$(name "$1"):8001/v1/kv/$2${3:-}"; }
# For within (which runs a command again and again, so no $(...) in its
# arguments): node $1's local copy of key $2 is $3; node $1 answers $2 to $3.
reads_stale() { [ "$(get "$1" "$2" '?stale')" = "$3" ]; }
answers() { [ "$(code "$3")" = "$2" ]; }
# Polls "$@" (a command) every 0.2 s for at most $1 seconds.
within() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
all_agree() {
  local l
  l=$(leader_of 1)
  [ -n "$l" ] && [ "$(leader_of 2)" = "$l" ] && [ "$(leader_of 3)" = "$l" ]
}

bash "$hosts" names "$prefix"  # no names yet
for i in 1 2 3; do start "$i"; done
unresolved() { grep -q "cannot connect to node .* at node.\.coraft\.test:7001" "$tmp/n1.log"; }
within 10 unresolved || fail "node 1 did not say that it cannot reach its peers' names yet"
for i in 1 2 3; do kill -0 "${pid[$i]}" || fail "node $i exited while its peers' names did not resolve"; done
publish_names
within 30 all_agree || fail "the three nodes agree on no leader within 30 s"
leader=$(leader_of 1)
echo "leader: node $leader (by names, listening on 0.0.0.0)"
for i in 1 2 3; do
  [ "$(code "https://$(name "$i"):8001/livez")" = 200 ] || fail "node $i: /livez"
  within 10 answers "$i" 200 "https://$(name "$i"):8001/readyz" || fail "node $i: /readyz not 200 within 10 s"
  grep -q "in plaintext" "$tmp/n$i.log" && fail "node $i says it listens in plaintext (TLS is on, both ports)"
  [ "$(status "$i" | jq -r '.members[] | select(.id == 2) | .raft')" = "$(name 2):7001" ] ||
    fail "node $i: the members' addresses are not the advertised names"
done

# A peer whose certificate comes from another CA: refused in the handshake.
mk ca other-ca
mk cert stranger "DNS:stranger.coraft.test" other-ca
out=$(python3 "$tls_dir/rogue_peer.py" "${addr[1]}" 7001 2 1 --cert "$certs/stranger.crt" \
  --key "$certs/stranger.key" --ca "$certs/ca.crt" 2>&1 || true)
[ "$out" = refused ] || fail "node 1 did not refuse another CA's certificate: $out"
within 5 grep -q "refused connection from 10.79.0.1:.*TLS handshake failed" "$tmp/n1.log" ||
  fail "node 1 did not log why it refused another CA's certificate"

follower=$((leader % 3 + 1))
[ "$(put "$follower" k v1)" = 200 ] || fail "a write through follower $follower (307 to the leader's name) failed"
for i in 1 2 3; do [ "$(get "$i" k)" = v1 ] || fail "node $i does not read v1"; done

# The leader's host drops everything from the other two, and they from it.
old=$leader
for b in 1 2 3; do
  [ "$b" = "$old" ] && continue
  bash "$hosts" cut "$prefix" "$old" "$b"
  bash "$hosts" cut "$prefix" "$b" "$old"
done
new_leader() {
  local l
  l=$(leader_of "$follower")
  [ -n "$l" ] && [ "$l" != "$old" ]
}
within 15 new_leader || fail "no new leader within 15 s of cutting off node $old"
leader=$(leader_of "$follower")
[ "$(put "$follower" k v2)" = 200 ] || fail "a write during the partition failed"
bash "$hosts" heal "$prefix"
within 15 reads_stale "$old" k v2 || fail "node $old did not catch up within 15 s of the heal"
echo "partition: node $leader took over from node $old, which caught up after the heal"

# A node dies and comes back under its name on a new address, as a pod
# does: its host moves, every /etc/hosts says so, the leader finds it there.
moved=$((leader % 3 + 1))
kill -KILL "${pid[$moved]}"
wait "${pid[$moved]}" 2> /dev/null || true
addr[$moved]=10.79.0.$((20 + moved))
bash "$hosts" move "$prefix" "$moved" "${addr[$moved]}"
publish_names
[ "$(put "$leader" k v3)" = 200 ] || fail "a write while node $moved was down failed"
start "$moved"
within 20 reads_stale "$moved" k v3 ||
  fail "node $moved, restarted on ${addr[$moved]} under $(name "$moved"), did not catch up within 20 s"
[ "$(put "$leader" k v4)" = 200 ] || fail "a write after the move failed"
within 10 reads_stale "$moved" k v4 || fail "node $moved does not follow after the move"
within 10 answers "$moved" 200 "https://$(name "$moved"):8001/readyz" || fail "node $moved not ready"
echo "move: node $moved came back on ${addr[$moved]} under its name and caught up"

for i in 1 2 3; do kill -TERM "${pid[$i]}"; done
for i in 1 2 3; do
  rc=0
  within 15 bash -c "! kill -0 ${pid[$i]} 2> /dev/null" || fail "node $i still runs 15 s after SIGTERM"
  wait "${pid[$i]}" || rc=$?
  [ "$rc" = 0 ] || fail "node $i exited $rc after SIGTERM"
done
pid=()
echo "multi_host_test: passed"
