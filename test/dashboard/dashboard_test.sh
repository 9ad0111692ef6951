#!/usr/bin/env bash
# dashboard_test.sh CORAFT_KV ARTIFACT_DIR — the dashboard at / in a real
# browser (Debian's chromium, headless) against three real coraft-kv nodes
# (127.0.0.59, raft 29901-29903, HTTP 29911-29913, admin token set):
#   1. the page, rendered by a follower, shows three members, the leader the
#      cluster reports, and a follower as such; it loads nothing from elsewhere;
#   2. GET /v1/events: the history, its incarnation and since=N paging;
#   3. the operations the page sends, forwarded by the serving node with the
#      caller's token: refused without it (401 from the leader), a snapshot on
#      another member, a leadership transfer through a follower; then in the
#      page itself (click.py drives chromium over the DevTools pipe): a
#      button pressed without the token shows the 401, with the token typed
#      in (kept in sessionStorage, never in the page) the transfer happens;
#   4. a node killed is shown as unreachable (page and /v1/cluster) while the
#      page keeps being served; a restarted node has a new incarnation;
#   5. a screenshot (ARTIFACT_DIR/dashboard.png) kept as the test's artifact.
# Exit 77 (skipped) when chromium is missing.
set -uo pipefail
kv=$(readlink -f "$1")
artifacts=$2
mkdir -p "$artifacts"
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "SKIP: chromium not installed (apt-get install chromium, or bash .ci/setup --tests)"
  exit 77
fi
tmp=$(mktemp -d /tmp/coraft-dashboard-XXXXXX)
pids=("" "" "")
cleanup() {
  for p in "${pids[@]}"; do [ -n "$p" ] && kill -KILL "$p" 2> /dev/null; done
  for p in "${pids[@]}"; do [ -n "$p" ] && wait "$p" 2> /dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for v in $(compgen -e | grep '^CORAFT_' || true); do unset "$v"; done
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# within SECONDS FUNCTION ARGS...: true once FUNCTION succeeds, polling.
within() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

host=127.0.0.59
token=dash-secret
cluster="1=$host:29901/$host:29911,2=$host:29902/$host:29912,3=$host:29903/$host:29913"
http() { echo "$host:2991$1"; }
start() {
  "$kv" --id "$1" --cluster "$cluster" --data-dir "$tmp/n$1" --admin-token "$token" > "$tmp/log$1" 2>&1 &
  pids[$(($1 - 1))]=$!
}
leader_of() { curl -s --max-time 2 "http://$(http "$1")/v1/status" | jq -e -r '.leader // empty'; }
have_leader() { leader=$(leader_of "$1") && [ -n "$leader" ]; }
# The page as chromium renders it after a few polls (virtual time).
render() {
  timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 --dump-dom "http://$(http "$1")/" \
    2> "$tmp/chrome.err"
}
row() { grep -o "<tr data-id=\"$2\"[^>]*>" <<< "$1"; }

for i in 1 2 3; do start "$i"; done
within 20 have_leader 1 || {
  fail "no leader within 20 s"
  tail -5 "$tmp"/log*
  exit 1
}
follower=1
[ "$leader" = 1 ] && follower=2
echo "leader $leader; the page is served by follower $follower"

echo "== 1. the page, rendered"
page=$(curl -s "http://$(http $follower)/")
grep -q '<title>coraft</title>' <<< "$page" || fail "GET / is not the dashboard"
grep -Eq '(src|href)="(https?:)?//' <<< "$page" && fail "the page loads something from elsewhere"
csp=$(curl -s -D - -o /dev/null "http://$(http $follower)/" | tr -d '\r' | grep -i '^content-security-policy:')
grep -q "connect-src 'self'" <<< "$csp" || fail "no Content-Security-Policy limiting the page to its node: '$csp'"
dom=$(render $follower)
rows=$(grep -o '<tr data-id="[0-9]*"' <<< "$dom" | wc -l)
[ "$rows" = 3 ] || fail "the page shows $rows members, not 3"
row "$dom" "$leader" | grep -q 'data-role="leader"' || fail "member $leader is not shown as the leader: $(row "$dom" "$leader")"
row "$dom" "$follower" | grep -q 'data-role="follower"' || fail "member $follower is not shown as a follower"
grep -q "<b id=\"leader-id\">$leader</b>" <<< "$dom" || fail "the header does not name leader $leader"
grep -q "<b id=\"served-by\">$follower</b>" <<< "$dom" || fail "the header does not name node $follower as the server"
grep -q 'data-kind="leader"' <<< "$dom" || fail "the events list shows no leader change"

echo "== 2. GET /v1/events"
ev=$(curl -s "http://$(http $follower)/v1/events?since=0")
inc=$(jq -r .incarnation <<< "$ev")
last=$(jq -r .last_seq <<< "$ev")
[ "${#inc}" = 16 ] || fail "incarnation '$inc' is not 16 hex digits"
jq -e '[.events[].seq] as $s | $s == ($s | sort) and ($s[0] == 1)' <<< "$ev" > /dev/null || fail "events not numbered 1.. in order: $ev"
for kind in started membership term leader peer_connected; do
  jq -e --arg k "$kind" 'any(.events[]; .kind == $k)' <<< "$ev" > /dev/null || fail "no '$kind' event: $ev"
done
jq -e --arg l "$leader" 'any(.events[]; .kind == "leader" and .fields.leader == $l and .term >= 1)' <<< "$ev" > /dev/null ||
  fail "no leader event naming node $leader with its term"
after=$(curl -s "http://$(http $follower)/v1/events?since=$((last - 1))" | jq '[.events[].seq]')
[ "$after" = "$(jq -n "[$last]")" ] || fail "since=$((last - 1)) gave $after, not [$last]"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$(http $follower)/v1/events?since=x")
[ "$code" = 400 ] || fail "since=x answered $code, not 400"

echo "== 3. operations forwarded with the caller's token"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST "http://$(http $follower)/v1/cluster/members/$leader/snapshot")
[ "$code" = 401 ] || fail "a snapshot without the token answered $code, not 401: $(cat "$tmp/out")"
curl -s -L -X PUT "http://$(http "$leader")/v1/kv/dash" -d x -H "Authorization: Bearer $token" > /dev/null
other=$((6 - leader - follower))
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  "http://$(http $follower)/v1/cluster/members/$other/snapshot")
[ "$code" = 200 ] && jq -e '.index >= 1' "$tmp/out" > /dev/null || fail "a snapshot on $other through $follower: $code $(cat "$tmp/out")"
curl -s "http://$(http $other)/v1/events" | jq -e 'any(.events[]; .kind == "snapshot_taken")' > /dev/null ||
  fail "node $other has no snapshot_taken event"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" -d "{\"to\":$follower}" \
  "http://$(http $follower)/v1/cluster/transfer")
[ "$code" = 200 ] || fail "transfer to $follower through itself answered $code: $(cat "$tmp/out")"
leads() { have_leader "$other" && [ "$leader" = "$follower" ]; }
within 10 leads || fail "node $follower does not lead after the transfer (leader: $leader)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "http://$(http 1)/v1/cluster/members/9/snapshot")
[ "$code" = 404 ] || fail "a snapshot on non-member 9 answered $code, not 404"

echo "== 3b. the same from the page, as a user: the button, the token typed in"
here=$(cd "$(dirname "$0")" && pwd)
if got=$(python3 "$here/click.py" "$chrome" "http://$(http "$leader")/" "$(sed "s/TOKEN/$token/" "$here/operate.js")"); then
  target=$(jq -r .target <<< "$got")
  jq -e '.refused | test(": 401")' <<< "$got" > /dev/null || fail "the page did not show the 401 without a token: $got"
  jq -e '.refusedClass == "bad"' <<< "$got" > /dev/null || fail "the page did not mark the refusal: $got"
  jq -e '.done | test(": 200 from ")' <<< "$got" > /dev/null || fail "the page did not show the transfer's 200: $got"
  jq -e --arg t "$token" '.stored == $t' <<< "$got" > /dev/null || fail "the token is not in the tab's session storage: $got"
  jq -e '.html == false' <<< "$got" > /dev/null || fail "the token was written into the page"
  leads_now() { have_leader "$target" && [ "$leader" = "$target" ]; }
  within 10 leads_now || fail "node $target does not lead after the page's transfer (leader: $leader)"
else
  fail "driving the page failed: $got"
fi
have_leader 1 || true
follower=$((leader == 1 ? 2 : 1))
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  "http://$(http "$follower")/v1/cluster/members/$leader/promote")
[ "$code" = 409 ] && grep -q bad_member "$tmp/out" || fail "promoting voter $leader through $follower: $code $(cat "$tmp/out"), not the leader's 409"

echo "== 4. a node killed is shown as unreachable"
# Serve the page from the new leader, kill one of the others.
serving=$leader
victim=$((serving == 1 ? 2 : 1))
victim_inc=$(curl -s "http://$(http "$victim")/v1/events" | jq -r .incarnation)
kill -KILL "${pids[$((victim - 1))]}"
wait "${pids[$((victim - 1))]}" 2> /dev/null
pids[$((victim - 1))]=""
shows_down() { curl -s --max-time 5 "http://$(http $serving)/v1/cluster" | jq -e --argjson v "$victim" \
  'any(.members[]; .id == $v and .reachable == false and (.error | length > 0))' > /dev/null; }
within 10 shows_down || fail "/v1/cluster does not show node $victim unreachable"
dom=$(render $serving)
row "$dom" "$victim" | grep -q 'data-reachable="false"' || fail "the page does not show node $victim unreachable: $(row "$dom" "$victim")"
row "$dom" "$victim" | grep -q 'data-role="unreachable"' || fail "node $victim's role is not 'unreachable'"
row "$dom" "$serving" | grep -q 'data-role="leader"' || fail "the serving leader $serving is not shown as leader"
start "$victim"
back() { curl -s --max-time 2 "http://$(http "$victim")/v1/events" | jq -e --arg i "$victim_inc" '.incarnation != $i' > /dev/null; }
within 10 back || fail "node $victim restarted with the same incarnation (or did not answer)"
up_again() { curl -s --max-time 5 "http://$(http $serving)/v1/cluster" | jq -e 'all(.members[]; .reachable)' > /dev/null; }
within 20 up_again || fail "node $victim is not reachable again after its restart"

echo "== 5. screenshot"
# Some writes, so that the charts have something to show.
for i in $(seq 1 200); do curl -s -L -X PUT "http://$(http "$serving")/v1/kv/k$i" -d "v$i" \
  -H "Authorization: Bearer $token" > /dev/null; done
rm -f "$artifacts/dashboard.png"
timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,820 \
  --virtual-time-budget=5000 --screenshot="$artifacts/dashboard.png" "http://$(http $serving)/" 2> "$tmp/chrome.err"
size=$(stat -c %s "$artifacts/dashboard.png" 2> /dev/null || echo 0)
[ "$size" -gt 20000 ] || fail "no screenshot (or an empty one: $size bytes) at $artifacts/dashboard.png"
head -c 8 "$artifacts/dashboard.png" | od -An -tx1 | grep -q '89 50 4e 47' || fail "the screenshot is not a PNG"
echo "screenshot: $artifacts/dashboard.png ($size bytes)"

if ((failures > 0)); then
  echo "dashboard_test: $failures failure(s)"
  tail -5 "$tmp"/log*
  exit 1
fi
echo "dashboard_test: ok"
