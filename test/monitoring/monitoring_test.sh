#!/usr/bin/env bash
# monitoring_test.sh BUILD_DIR CORAFT_KV — apps/monitoring/ against the
# coraft-kv it watches:
#   a. promtool check rules apps/monitoring/coraft-alerts.yml;
#   b. promtool test rules test/monitoring/coraft-alerts.test.yml: the
#      no-leader, node-down, follower-lag, WAL-sync, free-space and election
#      alerts fire on synthetic series that show the fault and stay silent
#      on healthy ones;
#   c. the Grafana dashboard parses, every datasource in it is the
#      ${DS_PROMETHEUS} variable, every panel has a query, and every query is
#      valid PromQL (promtool checks them as recording rules);
#   d. three real nodes (127.0.0.58, raft 29801-29803, HTTP 29811-29813), a
#      few PUTs, a GET, a snapshot on the leader, then /v1/metrics scraped
#      from each: every metric and label the rules and the dashboard name is
#      one they export (check_metric_names.py).
# promtool is Debian's `prometheus` package (bash .ci/setup --tests); without
# it a and b are skipped with one line, and the exit code is 77 (ctest:
# skipped) if everything else passed.
set -uo pipefail
build=$1
kv=$(readlink -f "$2")
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mon=$src/apps/monitoring
rules=$mon/coraft-alerts.yml
dash=$mon/coraft-grafana.json
tmp=$(mktemp -d /tmp/coraft-monitoring-XXXXXX)
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
for v in $(compgen -e | grep '^CORAFT_' || true); do unset "$v"; done
echo "monitoring_test: build $build, coraft-kv $kv"
promtool=$(command -v promtool || true)
[ -n "$promtool" ] || skip "promtool not installed (apt-get install prometheus, or bash .ci/setup --tests): a and b"

echo "== a. promtool check rules"
if [ -n "$promtool" ]; then
  "$promtool" check rules "$rules" || fail "promtool check rules $rules (above)"
fi

echo "== b. promtool test rules"
if [ -n "$promtool" ]; then
  # rule_files in the test file are relative to it.
  (cd "$here" && "$promtool" test rules coraft-alerts.test.yml) || fail "promtool test rules coraft-alerts.test.yml (above)"
fi

echo "== c. the dashboard"
if ! jq empty "$dash"; then
  fail "$dash is not JSON"
else
  # Every datasource reference, wherever it sits, is the variable.
  bad=$(jq -c '[.. | objects | select(has("datasource")) | .datasource
                | select(. != "${DS_PROMETHEUS}" and ((type != "object") or .uid != "${DS_PROMETHEUS}"))]' "$dash")
  [ "$bad" = "[]" ] || fail "datasources that are not \${DS_PROMETHEUS}: $bad"
  jq -e '.templating.list | any(.name == "DS_PROMETHEUS" and .type == "datasource" and .query == "prometheus")' \
    "$dash" > /dev/null || fail "no templating variable DS_PROMETHEUS of type datasource (query prometheus)"
  empty=$(jq -r '.panels[] | select(.type != "row") | select(((.targets // []) | map(.expr // "") | map(select(. != "")) | length) == 0) | .title' "$dash")
  [ -z "$empty" ] || fail "panels without a query: $empty"
  ids=$(jq -r '[.panels[].id] | (length == (unique | length))' "$dash")
  [ "$ids" = true ] || fail "panel ids are not unique"
  n=$(jq '[.. | objects | select(has("expr")) | .expr] | length' "$dash")
  echo "ok: JSON, $(jq '[.panels[] | select(.type != "row")] | length' "$dash") panels, $n queries, datasources all \${DS_PROMETHEUS}"
  if [ -n "$promtool" ]; then
    # The queries as recording rules (JSON is YAML), Grafana's variables
    # replaced by values: promtool parses each one.
    jq '{groups: [{name: "dashboard", rules: ([.. | objects | select(has("expr")) | .expr] | to_entries
          | map({record: ("dashboard:query_" + (.key | tostring)),
                 expr: (.value | gsub("\\$__rate_interval"; "1m") | gsub("\\$job"; "coraft")
                               | gsub("\\$instance"; ".*"))}))}]}' "$dash" > "$tmp/dashboard-rules.yml"
    "$promtool" check rules "$tmp/dashboard-rules.yml" > "$tmp/promql.out" 2>&1 ||
      { cat "$tmp/promql.out"; fail "the dashboard's queries are not valid PromQL (above; query_N is the Nth expr)"; }
  fi
fi

echo "== d. every metric named is exported: three nodes on 127.0.0.58"
ip=127.0.0.58
raft_addr() { echo "$ip:$((29800 + $1))"; }
http_addr() { echo "$ip:$((29810 + $1))"; }
cluster="1=$(raft_addr 1)/$(http_addr 1),2=$(raft_addr 2)/$(http_addr 2),3=$(raft_addr 3)/$(http_addr 3)"
code() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 3 "$@" 2> /dev/null || true; }
logs() { for i in 1 2 3; do echo "--- node $i:"; tail -n 15 "$tmp/n$i.log" 2> /dev/null; done; }
for i in 1 2 3; do
  "$kv" --id "$i" --cluster "$cluster" --cluster-id monitoring-test --data-dir "$tmp/d$i" > "$tmp/n$i.log" 2>&1 &
  pids+=($!)
done
leader=""
for _ in $(seq 1 200); do  # 20 s
  for i in 1 2 3; do
    kill -0 "${pids[$((i - 1))]}" 2> /dev/null || { fail "node $i exited"; break 2; }
    r=$(curl -s --max-time 1 "http://$(http_addr "$i")/v1/status" | jq -r 'select(.role == "leader") | .id' 2> /dev/null)
    [ -n "$r" ] && leader=$i
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
if [ -z "$leader" ]; then
  fail "no leader among the three nodes within 20 s"
  logs
else
  echo "ok: node $leader leads"
  # PUTs through every node (followers redirect: -L), retried while a
  # request meets an election.
  for k in 1 2 3 4 5 6; do
    i=$(((k - 1) % 3 + 1))
    c=""
    for _ in $(seq 1 50); do
      c=$(code -L -X PUT --data-binary "v$k" "http://$(http_addr "$i")/v1/kv/k$k")
      [ "$c" = 200 ] && break
      sleep 0.1
    done
    [ "$c" = 200 ] || fail "PUT k$k through node $i: $c $(cat "$tmp/body")"
  done
  c=$(code -L "http://$(http_addr 2)/v1/kv/k1")
  if [ "$c" != 200 ] || [ "$(cat "$tmp/body")" != v1 ]; then
    fail "GET k1 through node 2: $c '$(cat "$tmp/body")' (want 200 'v1')"
  fi
  c=$(code -L "http://$(http_addr 3)/v1/kv/missing")
  [ "$c" = 404 ] || fail "GET of a missing key: $c (want 404)"
  c=$(code -X POST "http://$(http_addr "$leader")/v1/snapshot")
  [ "$c" = 200 ] || fail "POST /v1/snapshot on the leader (node $leader): $c $(cat "$tmp/body")"
  # The followers' applied index reaches the leader's commit index before
  # the scrape, so the apply-side series have samples everywhere.
  commit=$(curl -s --max-time 2 "http://$(http_addr "$leader")/v1/status" | jq -r '.commit_index')
  for i in 1 2 3; do
    ok=""
    for _ in $(seq 1 100); do
      a=$(curl -s --max-time 1 "http://$(http_addr "$i")/v1/status" | jq -r '.applied_index' 2> /dev/null)
      [ -n "$a" ] && [ "$a" != null ] && [ "$a" -ge "$commit" ] && ok=1 && break
      sleep 0.1
    done
    [ -n "$ok" ] || fail "node $i did not apply through $commit within 10 s"
  done
  scrapes=()
  for i in 1 2 3; do
    c=$(code "http://$(http_addr "$i")/v1/metrics")
    if [ "$c" = 200 ]; then
      cp "$tmp/body" "$tmp/metrics-$i.txt"
      scrapes+=("$tmp/metrics-$i.txt")
    else
      fail "GET /v1/metrics on node $i: $c"
    fi
  done
  if ((${#scrapes[@]} == 3)); then
    python3 "$here/check_metric_names.py" "$rules" "$dash" "${scrapes[@]}" ||
      fail "the rules or the dashboard name metrics or labels coraft does not export (above)"
  fi
fi

if ((failures)); then
  echo "monitoring_test: $failures failure(s)"
  exit 1
fi
if ((${#skipped[@]})); then
  echo "monitoring_test: passed, with ${#skipped[@]} part(s) skipped"
  exit 77
fi
echo "monitoring_test: passed"
