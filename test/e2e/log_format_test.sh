#!/usr/bin/env bash
# log_format_test.sh CORAFT_KV — coraft-kv's --log-format json (issue 20):
# a one-node cluster on 127.0.0.57:29700/29701 started with
# CORAFT_LOG_FORMAT=json (the variable, as any CORAFT_* flag) elects
# itself, takes a PUT and stops on SIGTERM; every line it wrote to stderr
# must be one JSON object with the fixed keys in order, some of them
# carrying the leader's term and role. Then --log-format xml must stop
# start-up with exit code 2 naming the flag. Bounded: under 10 s.
# Exit 77 (skipped) without jq or curl.
set -uo pipefail
kv=$(readlink -f "$1")
for tool in jq curl; do
  command -v "$tool" > /dev/null || {
    echo "SKIP: $tool is missing"
    exit 77
  }
done
tmp=$(mktemp -d /tmp/coraft-logfmt-XXXXXX)
pid=
cleanup() {
  [[ -n $pid ]] && kill -KILL "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- stderr of coraft-kv:"
  cat "$tmp/err" 2> /dev/null
  exit 1
}
http=127.0.0.57:29701
flags=(--id 1 --cluster 1=127.0.0.57:29700/$http --data-dir "$tmp/n1")

CORAFT_LOG_FORMAT=json "$kv" "${flags[@]}" > "$tmp/out" 2> "$tmp/err" &
pid=$!
ready=
for _ in $(seq 50); do  # up to 5 s for the node to elect itself and apply
  if curl -sf -o /dev/null "http://$http/readyz"; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ -n $ready ]] || fail "not ready within 5 s"
curl -sf -o /dev/null -X PUT --data-binary world "http://$http/v1/kv/hello" || fail "PUT failed"
kill -TERM "$pid"
for _ in $(seq 50); do  # up to 5 s to stop
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2> /dev/null && fail "still running 5 s after SIGTERM"
wait "$pid"
rc=$?
pid=
[[ $rc == 0 ]] || fail "exit code $rc after SIGTERM, not 0"

lines=$(wc -l < "$tmp/err")
((lines >= 3)) || fail "only $lines lines on stderr"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  jq -e '(keys_unsorted == ["time","level","node","term","role","component","message","fields"])
         and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
         and (.level | IN("debug","info","warn","error")) and .node == 1
         and (.fields | type == "object")' <<< "$line" > /dev/null 2>&1 ||
    fail "stderr line $n is not a JSON object with the fixed keys: $line"
done < "$tmp/err"
jq -se 'any(.[]; .term != null and .term >= 1 and .role == "leader")' "$tmp/err" > /dev/null ||
  fail "no line carries the leader's term and role"
jq -se 'any(.[]; .component == "main" and .message == "stopped")' "$tmp/err" > /dev/null ||
  fail "no 'stopped' line"

"$kv" "${flags[@]}" --log-format xml > /dev/null 2> "$tmp/err"
rc=$?
[[ $rc == 2 ]] || fail "--log-format xml: exit code $rc, not 2"
grep -q -- "--log-format must be text or json" "$tmp/err" || fail "--log-format xml: the message names no flag"
echo "PASS: $lines JSON lines on stderr; a bad --log-format stops start-up with 2"
