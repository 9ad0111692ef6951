#!/usr/bin/env bash
# bench/compare-smoke-test.sh BUILD_DIR — the ctest `bench_compare_quick`
# (label `bench`): bench/compare-etcd.sh --quick end to end (a 3-node etcd
# and a 3-node coraft-kv, puts and linearizable gets at 1 and 64
# connections, 3 s each), then bench/plot.sh on its results. Checks every
# point ran on both systems (errors under 1%), the table has a ratio for each,
# the figures were drawn, and nothing the script started is left running.
# Needs etcd and gnuplot (`bash .ci/setup --tests` installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:?usage: compare-smoke-test.sh BUILD_DIR}" && pwd)
fail() { echo "compare smoke: $*" >&2; exit 1; }
for cmd in etcd gnuplot; do
  command -v "$cmd" >/dev/null || fail "$cmd is not installed: run bash .ci/setup --tests"
done
R=$(mktemp -d /tmp/coraft-compare-smoke.XXXXXX)
trap 'rm -rf "$R"' EXIT

# Every process the script starts inherits this mark, so that what is left
# afterwards can be told from anyone else's etcd or coraft-kv.
mark="CORAFT_COMPARE_SMOKE=$$.$RANDOM"
env "$mark" bash "$here/compare-etcd.sh" --quick --build "$B" --results "$R" >"$R/out.txt" 2>&1 ||
  fail "compare-etcd.sh failed: $(tail -n 20 "$R/out.txt")"
# 2 systems x 2 workloads x 2 connection counts, each with requests and
# (ctest runs other suites beside this one: a leader change under that load
# may fail a few requests) errors in at most 1% of them (3 s per point).
rows=$(awk -F, 'NR > 1 && $4 > 0 && $10 * 100 <= $4 * 3' "$R/summary.csv" | wc -l)
[ "$rows" -eq 8 ] || fail "expected 8 clean points in summary.csv, got $rows: $(cat "$R/summary.csv")"
for sys in coraft etcd; do
  for wl in put get; do
    grep -q "^$sys,$wl,64," "$R/summary.csv" || fail "no $sys $wl point at 64 connections"
  done
done
ratios=$(grep -cE '^(put|get) +(1|64) \|.*\| +[0-9.]+x' "$R/table.txt" || true)
[ "$ratios" -eq 4 ] || fail "expected 4 table rows with a ratio, got $ratios: $(cat "$R/table.txt")"
echo "ok: compare-etcd.sh --quick (8 points, errors under 1%, 4 ratios)"

# Everything it started is gone (it stops its processes by pid on exit).
left=$(grep -lsaF "$mark" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | tr '\n' ' ' || true)
[ -z "$left" ] || fail "processes it started are still running: $(ps -o pid=,comm= -p ${left// /,} 2>/dev/null)"
echo "ok: no process left behind"

bash "$here/plot.sh" "$R" >"$R/plot.txt" 2>&1 || fail "plot.sh failed: $(cat "$R/plot.txt")"
for f in throughput-put throughput-get latency-put-c64 latency-get-c1; do
  for ext in svg png; do
    [ -s "$R/figures/$f.$ext" ] || fail "plot.sh drew no $f.$ext"
  done
done
echo "ok: plot.sh drew the throughput and latency figures"
