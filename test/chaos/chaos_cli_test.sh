#!/usr/bin/env bash
# chaos_cli_test.sh BUILD_DIR — coraft-chaos from outside, as a user runs it:
#   check   exit 0 / 1 / 2 on a linearizable history, a violation (naming the
#           key), and a file it cannot read (naming the line)
#   run     Ctrl-C in the middle of a run leaves no node, namespace or rule
#           behind; bad flags stop it with exit 2
set -euo pipefail
build=$1
chaos=$build/chaos/coraft-chaos
tmp=$(mktemp -d /tmp/coraft-chaos-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

line() { # process type f key value time
  printf '{"process":%s,"type":"%s","f":"%s","key":"%s","value":%s,"time":%s}\n' "$@"
}

# A linearizable history: a write, then a read that sees it.
{ line 0 invoke write a '"1"' 10; line 0 ok write a '"1"' 20
  line 1 invoke read a null 30; line 1 ok read a '"1"' 40; } > "$tmp/good.jsonl"
"$chaos" check "$tmp/good.jsonl" > "$tmp/out" || fail "check of a linearizable history: exit $?"
grep -q '^linearizable' "$tmp/out" || fail "check did not say linearizable: $(cat "$tmp/out")"

# A stale read after an acknowledged write, on key b only.
{ cat "$tmp/good.jsonl"
  line 2 invoke write b '"5"' 50; line 2 ok write b '"5"' 60
  line 3 invoke read b null 70; line 3 ok read b null 80; } > "$tmp/stale.jsonl"
set +e; "$chaos" check "$tmp/stale.jsonl" > "$tmp/out"; code=$?; set -e
[ "$code" = 1 ] || fail "check of a stale read: exit $code, want 1"
grep -q 'NOT linearizable: 1 key(s) b' "$tmp/out" || fail "check did not name key b: $(cat "$tmp/out")"

# Line 3 is not JSON.
{ line 0 invoke write a '"1"' 10; line 0 ok write a '"1"' 20; echo '{"process":'; } > "$tmp/bad.jsonl"
set +e; "$chaos" check "$tmp/bad.jsonl" 2> "$tmp/err"; code=$?; set -e
[ "$code" = 2 ] || fail "check of a broken file: exit $code, want 2"
grep -q 'line 3' "$tmp/err" || fail "the error does not name line 3: $(cat "$tmp/err")"
set +e; "$chaos" check "$tmp/missing.jsonl" 2> "$tmp/err"; code=$?; set -e
[ "$code" = 2 ] || fail "check of a missing file: exit $code, want 2"

# Bad flags: exit 2 with a message naming the flag.
for args in "--duration 0" "--duration 5 --nodes 4" "--duration 5 --nemesis kill,flood" "--nodes 3"; do
  set +e; "$chaos" run $args --out "$tmp/x" > /dev/null 2> "$tmp/err"; code=$?; set -e
  [ "$code" = 2 ] || fail "run $args: exit $code, want 2"
  [ -s "$tmp/err" ] || fail "run $args: no message"
done

# Ctrl-C in the middle of a run: exit 130, and nothing of it is left.
"$chaos" run --duration 60 --nemesis kill,pause,partition-leader --seed 11 --out "$tmp/int" > "$tmp/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do  # until the load started (bounded: 20 s)
  [ -s "$tmp/int/history.jsonl" ] && break
  sleep 0.2
done
[ -s "$tmp/int/history.jsonl" ] || fail "the run never started: $(cat "$tmp/int.out")"
# A second run meanwhile is refused: it would take the first one's
# namespaces and addresses.
set +e; "$chaos" run --duration 5 --nemesis none --out "$tmp/second" > /dev/null 2> "$tmp/err"; code=$?; set -e
[ "$code" = 2 ] || fail "a second run at once: exit $code, want 2"
grep -q 'another coraft-chaos run' "$tmp/err" || fail "the second run did not say why: $(cat "$tmp/err")"
sleep 2
kill -INT "$pid"
set +e; wait "$pid"; code=$?; set -e
[ "$code" = 130 ] || fail "run after SIGINT: exit $code, want 130: $(cat "$tmp/int.out")"
if pgrep -f "$tmp/int/nodes" > /dev/null; then fail "nodes of the interrupted run are still running"; fi
if [ "$(id -u)" = 0 ]; then
  if ip netns list | grep -q '^chaos-n'; then fail "namespaces left behind: $(ip netns list)"; fi
  if ip link show chaos-br > /dev/null 2>&1; then fail "bridge chaos-br left behind"; fi
fi
# SIGKILL of coraft-chaos: its nodes die with it (PR_SET_PDEATHSIG); the
# namespaces it leaves are removed by the next run's start.
"$chaos" run --duration 60 --nemesis kill --seed 12 --out "$tmp/k" > "$tmp/k.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/k/history.jsonl" ] && break
  sleep 0.2
done
[ -s "$tmp/k/history.jsonl" ] || fail "the run to be killed never started: $(cat "$tmp/k.out")"
kill -KILL "$pid"
wait "$pid" || true
for _ in $(seq 1 50); do
  pgrep -f "$tmp/k/nodes" > /dev/null || break
  sleep 0.1
done
if pgrep -f "$tmp/k/nodes" > /dev/null; then fail "nodes outlived their SIGKILLed coraft-chaos"; fi
"$chaos" run --duration 3 --nemesis none --seed 13 --out "$tmp/k2" > "$tmp/k2.out" 2>&1 ||
  fail "the run after a killed one: $(cat "$tmp/k2.out")"
if [ "$(id -u)" = 0 ] && ip netns list | grep -q '^chaos-n'; then fail "namespaces left behind: $(ip netns list)"; fi
echo "chaos_cli_test: ok"
