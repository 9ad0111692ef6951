#!/usr/bin/env bash
# peer_tls_test.sh BUILD_DIR — mutual TLS on the raft port (issue 17), with
# three coraft-kv nodes on 127.0.0.81-83 and throw-away certificates
# (make_certs.sh):
#   - the cluster forms and replicates over TLS;
#   - a peer (rogue_peer.py) with our CA's certificate for node 3 that says
#     it is node 2 is refused; one that says it is a node the cluster does
#     not know is heard, but its TimeoutNow moves no term and deposes no
#     leader;
#   - node 3 restarted with a certificate from another CA, or without TLS,
#     is refused (logged, with the reason) and learns nothing, while the
#     others go on committing; back with its own certificate, it catches up;
#   - HTTPS on the client port with client certificates required: reads,
#     writes through a follower's 307 (to https://), a client without a
#     certificate and a plaintext client refused; a fourth node joins with
#     --join over HTTPS (--http-ca) and catches up;
#   - bad certificate flags stop start-up with a message naming the flag,
#     a certificate that does not name the node's own host included.
set -euo pipefail
build=$1
kv=$build/apps/coraft-kv
here=$(cd "$(dirname "$0")" && pwd)
command -v openssl > /dev/null || { echo "peer_tls_test: SKIPPED: needs the openssl command"; exit 77; }
tmp=$(mktemp -d /tmp/coraft-peer-tls-XXXXXX)
declare -A pid
cleanup() {
  for p in "${pid[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for i in 1 2 3; do echo "--- node $i" >&2; tail -n 15 "$tmp/n$i.log" >&2 || true; done
  exit 1
}
certs=$tmp/certs
mk() { bash "$here/make_certs.sh" "$certs" "$@"; }
mk ca ca
mk ca other-ca
for i in 1 2 3; do mk cert "n$i" "IP:127.0.0.8$i" ca; done
mk cert impostor "IP:127.0.0.83" other-ca  # node 3's address, another CA
mk cert borrowed "IP:127.0.0.82" ca        # our CA, but node 2's address
mk cert client "DNS:operator" ca           # an HTTPS client
mk cert n4 "IP:127.0.0.84" ca              # the node that joins

ip() { echo "127.0.0.8$1"; }
cluster="1=$(ip 1):7001/$(ip 1):8001,2=$(ip 2):7001/$(ip 2):8001,3=$(ip 3):7001/$(ip 3):8001"
tls_of() { echo --peer-cert "$certs/$1.crt" --peer-key "$certs/$1.key" --peer-ca "$certs/${2:-ca}.crt"; }
# start I [TLS FLAGS...]
start() {
  local i=$1
  shift
  echo "=== start node $i $*" >> "$tmp/n$i.log"
  "$kv" --id "$i" --cluster "$cluster" --data-dir "$tmp/d$i" "$@" >> "$tmp/n$i.log" 2>&1 &
  pid[$i]=$!
}
stop() {
  kill -TERM "${pid[$1]}"
  local rc=0
  wait "${pid[$1]}" || rc=$?
  unset "pid[$1]"
  [ "$rc" = 0 ] || fail "node $1 exited $rc after SIGTERM"
}
http() { curl -s --max-time 3 "$@" || true; }
leader_of() { http "http://$(ip "$1"):8001/v1/status" | jq -r 'select(.leader != null and .leader != 0) | .leader' 2> /dev/null || true; }
reads_stale() { [ "$(http "http://$(ip "$1"):8001/v1/kv/$2?stale")" = "$3" ]; }
put() { http -o /dev/null -w '%{http_code}' -L -X PUT --data-binary "$2" "http://$(ip 1):8001/v1/kv/$1"; }
within() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
has_leader() { [ -n "$(leader_of 1)" ] && [ "$(leader_of 1)" = "$(leader_of 2)" ]; }
logged() { grep -q "$2" "$tmp/n$1.log"; }

# shellcheck disable=SC2046
for i in 1 2 3; do start "$i" $(tls_of "n$i"); done
within 30 has_leader || fail "no leader over TLS within 30 s"
[ "$(put k v1)" = 200 ] || fail "a write over TLS failed"
within 10 reads_stale 3 k v1 || fail "node 3 did not replicate v1 over TLS"
echo "formed over mutual TLS"

# A peer with a good certificate (node 3's) that claims to be node 2.
leader=$(leader_of 1)
term=$(http "http://$(ip 1):8001/v1/status" | jq -r .term)
rogue() { python3 "$here/rogue_peer.py" "$@" --cert "$certs/n3.crt" --key "$certs/n3.key" --ca "$certs/ca.crt"; }
[ "$(rogue "$(ip 1)" 7001 2 1)" = refused ] || fail "node 1 listened to node 3's certificate claiming to be node 2"
within 5 logged 1 "its certificate does not name 127.0.0.82" || fail "node 1 did not say why it refused"
# One that claims an id nobody knows (heard: it could be a new member) and
# sends TimeoutNow to every follower: no election may follow.
for i in 1 2 3; do
  [ "$i" = "$leader" ] || rogue "$(ip "$i")" 7001 99 "$i" --term "$term" --timeout-now 20 > /dev/null
done
sleep 1  # (a bound on what must NOT happen)
for i in 1 2 3; do
  now=$(http "http://$(ip "$i"):8001/v1/status" | jq -r '"\(.term) \(.leader)"')
  [ "$now" = "$term $leader" ] || fail "node $i: term and leader '$now' after a stranger's TimeoutNow (was '$term $leader')"
done
echo "refused: a certificate claiming another member; a stranger's TimeoutNow deposes no one"

n=1
refused_with() {  # refused_with WHAT PATTERN TLS-FLAGS...: node 3 so started learns nothing
  local what=$1 pattern=$2
  shift 2
  stop 3
  start 3 "$@"
  n=$((n + 1))
  [ "$(put k "v$n")" = 200 ] || fail "the others stopped committing with node 3 $what"
  within 10 logged 1 "$pattern" || within 1 logged 2 "$pattern" || fail "node 3 $what: no '$pattern' in nodes 1-2's logs"
  sleep 2  # (a bound on what must NOT happen: node 3 stays behind)
  reads_stale 3 k "v$n" && fail "node 3 $what caught up: it was not refused"
  echo "refused: node 3 $what"
}
# shellcheck disable=SC2046
refused_with "with a certificate from another CA" "refused connection from 127.0.0.83.*TLS handshake failed" $(tls_of impostor)
refused_with "without TLS" "refused connection from 127.0.0.83.*TLS handshake failed"
# shellcheck disable=SC2046
{ stop 3; start 3 $(tls_of n3); }
within 15 reads_stale 3 k "v$n" || fail "node 3, back with its own certificate, did not catch up"
echo "node 3 back with its own certificate caught up"

# HTTPS on the client port, client certificates required.
for i in 1 2 3; do
  stop "$i"
  # shellcheck disable=SC2046
  start "$i" $(tls_of "n$i") --http-cert "$certs/n$i.crt" --http-key "$certs/n$i.key" --http-client-ca "$certs/ca.crt" \
    $([ "$i" != 3 ] && echo --http-ca "$certs/ca.crt")
done
https() { curl -s --max-time 3 --cacert "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key" "$@" || true; }
https_leader_of() { https "https://$(ip "$1"):8001/v1/status" | jq -r 'select(.leader != null and .leader != 0) | .leader' 2> /dev/null || true; }
https_agree() { [ -n "$(https_leader_of 1)" ] && [ "$(https_leader_of 1)" = "$(https_leader_of 2)" ]; }
within 30 https_agree || fail "no leader seen over HTTPS within 30 s"
leader=$(https_leader_of 1)
follower=$((leader % 3 + 1))
code=$(https -o /dev/null -w '%{http_code}' -L -X PUT --data-binary over-https "https://$(ip "$follower"):8001/v1/kv/s")
[ "$code" = 200 ] || fail "a write through follower $follower over HTTPS (307 to https://) answered $code"
location=$(https -o /dev/null -w '%{redirect_url}' -X PUT --data-binary x "https://$(ip "$follower"):8001/v1/kv/s2")
[[ "$location" == https://* ]] || fail "the redirect is not to https: '$location'"
# Each node gets a while: right after the restarts a read once failed on a
# loaded machine (-j3 beside net_tests); the message says what it answered.
https_reads() { [ "$(https "https://$(ip "$1"):8001/v1/kv/s")" = over-https ]; }
for i in 1 2 3; do
  within 15 https_reads "$i" || fail "node $i: HTTPS read answered '$(https "https://$(ip "$i"):8001/v1/kv/s")'"
done
# The dashboard's gathering: over HTTPS with --http-ca (and the node's own
# certificate as its client certificate); without it, a reason, not a hang.
gathered=$(https "https://$(ip 1):8001/v1/cluster" | jq -c '[.members[] | .reachable]')
[ "$gathered" = "[true,true,true]" ] || fail "node 1 (--http-ca) does not gather its peers over HTTPS: $gathered"
https "https://$(ip 3):8001/v1/cluster" | jq -e '[.members[] | select(.id != 3) | .error] | all(test("--http-ca"))' > /dev/null ||
  fail "node 3 (no --http-ca) does not say that gathering HTTPS members needs --http-ca"
rc=0
curl -s --max-time 3 --cacert "$certs/ca.crt" -o /dev/null "https://$(ip 1):8001/v1/status" || rc=$?
[ "$rc" != 0 ] || fail "an HTTPS client without a certificate was served"
within 5 logged 1 "http: TLS handshake failed" || fail "node 1 did not log the refused HTTPS client"
[ "$(http -o /dev/null -w '%{http_code}' "http://$(ip 1):8001/v1/status")" != 200 ] || fail "plain HTTP served on the HTTPS port"
echo "HTTPS with client certificates: reads, writes through a redirect, refusals"

# Node 4 joins through a follower over HTTPS (the 307 to the leader is
# followed over HTTPS too), with its certificate as the client's.
echo "=== start node 4 --join" >> "$tmp/n4.log"
"$kv" --id 4 --cluster "4=127.0.0.84:7001/127.0.0.84:8001" --data-dir "$tmp/d4" --join "$(ip "$follower"):8001" \
  --peer-cert "$certs/n4.crt" --peer-key "$certs/n4.key" --peer-ca "$certs/ca.crt" \
  --http-cert "$certs/n4.crt" --http-key "$certs/n4.key" --http-client-ca "$certs/ca.crt" --http-ca "$certs/ca.crt" \
  >> "$tmp/n4.log" 2>&1 &
pid[4]=$!
joined() { [ "$(https "https://127.0.0.84:8001/v1/kv/s?stale")" = over-https ]; }
within 30 joined || { tail -n 20 "$tmp/n4.log" >&2; fail "node 4 did not join over HTTPS and catch up within 30 s"; }
learners=$(https "https://$(ip "$leader"):8001/v1/status" | jq -c '[.members[] | select(.voter == false) | .id]')
[ "$learners" = "[4]" ] || fail "node 4 is not a learner on the leader: $learners"
stop 4
echo "node 4 joined with --join over HTTPS and caught up"

# Bad certificate flags: start-up stops, naming the flag.
refuses() {  # refuses PATTERN FLAGS...
  local pattern=$1 out rc=0
  shift
  out=$("$kv" --id 9 --cluster "9=127.0.0.84:7001/127.0.0.84:8001" --data-dir "$tmp/bad" "$@" 2>&1) || rc=$?
  [ "$rc" != 0 ] || fail "started with $*"
  grep -q -- "$pattern" <<< "$out" || fail "with $*: no '$pattern' in: $out"
}
refuses "go together" --peer-cert "$certs/n1.crt"
refuses "--http-cert and --http-key go together" --http-cert "$certs/n1.crt"
refuses "--http-key" --http-cert "$certs/n1.crt" --http-key "$certs/n2.key"
refuses "--http-client-ca" --http-cert "$certs/n1.crt" --http-key "$certs/n1.key" --http-client-ca "$tmp/missing.crt"
refuses "--http-ca" --http-ca "$tmp/missing.crt"
refuses "does not name 127.0.0.84" --peer-cert "$certs/borrowed.crt" --peer-key "$certs/borrowed.key" --peer-ca "$certs/ca.crt"
CORAFT_ADMIN_TOKEN= CORAFT_PEER_CERT= refuses "go together" --peer-key "$certs/n1.key" --peer-ca "$certs/ca.crt"
refuses "--peer-cert" --peer-cert "$tmp/missing.crt" --peer-key "$certs/n1.key" --peer-ca "$certs/ca.crt"
refuses "--peer-key" --peer-cert "$certs/n1.crt" --peer-key "$certs/n2.key" --peer-ca "$certs/ca.crt"
echo "not a certificate" > "$tmp/garbage.pem"
refuses "--peer-ca" --peer-cert "$certs/n1.crt" --peer-key "$certs/n1.key" --peer-ca "$tmp/garbage.pem"
refuses "--peer-cert" --peer-cert "$tmp/garbage.pem" --peer-key "$certs/n1.key" --peer-ca "$certs/ca.crt"
if command -v faketime > /dev/null; then
  mk expired old "IP:127.0.0.84" ca
  refuses "expired" --peer-cert "$certs/old.crt" --peer-key "$certs/old.key" --peer-ca "$certs/ca.crt"
else
  echo "peer_tls_test: the expired-certificate case needs faketime (not run)"
fi
echo "bad certificate flags are refused by name"

for i in 1 2 3; do stop "$i"; done
echo "peer_tls_test: passed"
