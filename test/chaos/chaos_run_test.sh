#!/usr/bin/env bash
# chaos_run_test.sh BUILD_DIR MODE — coraft-chaos run against real clusters.
#   all      a bounded run (about 3 minutes) with every nemesis this machine
#            supports: exit 0, faults of several kinds injected, no
#            violation and no lost acknowledged write
#   planted  coraft-kv-faults with a planted bug (CORAFT_KV_PLANTED_BUG=
#            stale-reads: GETs skip their read barrier) under kills, with a
#            pinned seed: the checker must catch it (exit 1)
set -euo pipefail
build=$1
mode=$2
chaos=$build/chaos/coraft-chaos
out=$(mktemp -d /tmp/coraft-chaos-run-XXXXXX)
fail() { echo "FAIL: $*" >&2; echo "(kept: $out)" >&2; exit 1; }
field() { tail -n 1 "$out/run.out" | jq -r "$1"; }

case "$mode" in
  all)
    set +e
    "$chaos" run --duration "${CORAFT_CHAOS_SECONDS:-150}" --seed 20261207 --out "$out/run" --json > "$out/run.out" 2>&1
    code=$?
    set -e
    cat "$out/run.out"
    [ "$code" = 0 ] || fail "exit $code, want 0"
    [ "$(field .violations)" = 0 ] || fail "violations"
    [ "$(field .lost_acks)" = 0 ] || fail "lost acknowledged writes"
    [ "$(field .ok)" -gt 1000 ] || fail "fewer than 1000 operations succeeded"
    kinds=$(field '.faults | length')
    [ "$kinds" -ge 4 ] || fail "only $kinds kinds of faults were injected"
    ;;
  planted)
    set +e
    "$chaos" run --duration 20 --nemesis kill --seed 3 --node-env CORAFT_KV_PLANTED_BUG=stale-reads \
      --out "$out/run" --json > "$out/run.out" 2>&1
    code=$?
    set -e
    grep -v '^p[0-9]' "$out/run.out"
    [ "$code" = 1 ] || fail "exit $code, want 1: the planted stale reads went unnoticed"
    [ "$(field .violations)" -gt 0 ] || fail "no violation reported"
    ls "$out"/run/violation-*.svg > /dev/null || fail "no timeline of a violation was written"
    ;;
  *) fail "unknown mode $mode" ;;
esac
rm -rf "$out"
echo "chaos_run_test $mode: ok"
