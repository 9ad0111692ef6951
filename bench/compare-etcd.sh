#!/usr/bin/env bash
# bench/compare-etcd.sh — coraft-kv and etcd side by side, same client, same load.
#
# Starts a 3-node etcd (Debian's etcd-server, installed if missing; heartbeat
# 50 ms, election timeout 300 ms, durable writes as by default) on
# 127.0.0.31-33 and a 3-node coraft-kv (--fsync always) on 127.0.0.21-23,
# data in a mktemp dir. Then for each workload (puts, then linearizable gets)
# and each connection count, runs `coraft-bench http` against each system's
# leader — --api etcd speaks etcd's v3 JSON gateway — for DURATION s after
# WARMUP s, alternating which system goes first. 16-byte keys, 128-byte
# values, uniform over 100,000 keys. Prints a table and writes every run's
# JSON plus summary.csv to the results dir. Ctrl-C stops everything it
# started (by pid) and removes the data.
#
#   bash bench/compare-etcd.sh                               # the full run (~20 min)
#   bash bench/compare-etcd.sh --quick                       # 1 s warm-up, 3 s, 1 and 64 connections
#   bash bench/compare-etcd.sh --duration 5 --connections 16,256 --workloads put
#   DURATION=15 WARMUP=3 CONNECTIONS="1 16 64 256" bash bench/compare-etcd.sh
#
# Flags (or the env variable in brackets): --duration S [DURATION=15],
# --warmup S [WARMUP=3], --connections LIST [CONNECTIONS="1 16 64 256"],
# --workloads LIST [WORKLOADS="put get"], --results DIR [RESULTS=
# bench/results/compare-DATE], --build DIR [BUILD=build], --threads N
# [CLIENT_THREADS=1], --grpc (also etcd's native gRPC put load, see
# bench/etcd-grpc-load; [GRPC=1]), --repeat N [REPEAT=1]: measure every
# point N times (the whole sweep N times over, so drift spreads over all
# points); the table and median.csv give each metric's median over the N.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-"1 16 64 256"}
WORKLOADS=${WORKLOADS:-"put get"}
CLIENT_THREADS=${CLIENT_THREADS:-1}
GRPC=${GRPC:-0}
REPEAT=${REPEAT:-1}
RESULTS=${RESULTS:-}
while (($#)); do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=${2//,/ }; shift 2 ;;
    --workloads) WORKLOADS=${2//,/ }; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --threads) CLIENT_THREADS=$2; shift 2 ;;
    --grpc) GRPC=1; shift ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --quick) DURATION=3; WARMUP=1; CONNECTIONS="1 64"; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "compare-etcd.sh: unknown flag '$1' (see --help)" >&2; exit 2 ;;
  esac
done
RESULTS=${RESULTS:-$ROOT/bench/results/compare-$(date +%Y%m%d-%H%M%S)}
# shellcheck source=bench/lib-clusters.sh
source "$ROOT/bench/lib-clusters.sh"

need_packages etcd:etcd-server curl:curl jq:jq
ensure_built
mkdir -p "$RESULTS"
WORK=$(mktemp -d /tmp/coraft-compare.XXXXXX)
CLIENT_PID=0
cleanup() {
  trap - EXIT INT TERM
  stop_pid "$CLIENT_PID"
  stop_all
  if [ -d "$WORK" ]; then
    mkdir -p "$RESULTS/logs"
    cp "$WORK"/coraft/*.log "$WORK"/etcd/*.log "$RESULTS/logs/" 2>/dev/null || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

{
  echo "date: $(date -Iseconds)"
  echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "etcd: $(etcd --version | head -1)"
  echo "coraft: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "command: $0 duration=$DURATION warmup=$WARMUP connections='$CONNECTIONS' workloads='$WORKLOADS' threads=$CLIENT_THREADS repeat=$REPEAT grpc=$GRPC"
  echo "load at start: $(cat /proc/loadavg)"
} | tee "$RESULTS/run-info.txt" >&2

start_coraft
start_etcd
CL=$(wait_leader coraft)
EL=$(wait_leader etcd)
log "coraft leader: node $CL; etcd leader: node $EL; results in $RESULTS"

CSV=$RESULTS/summary.csv
echo "system,workload,connections,ops_per_sec,p50_us,p90_us,p99_us,p999_us,max_us,errors,not_found,load1_before,load1_after,compilers_running,rep" >"$CSV"
REP=1

# Compilers running on the machine right now (someone building beside the
# benchmark makes its numbers noisy; the load average also counts the
# benchmark's own threads, etcd's Go runtime many of them).
compilers() { ps -eo comm= | grep -cE '^(cc1plus|cc1|clang.*|ld|ld\.gold|compile)$' || true; }

# run_one SYSTEM WORKLOAD CONNECTIONS — one measured run; appends to the CSV.
run_one() {
  local sys=$1 wl=$2 c=$3 leader url out l0
  leader=$(wait_leader "$sys")
  url=$(leader_url "$sys" "$leader")
  local sfx=""; ((REP > 1)) && sfx="-r$REP"
  out="$RESULTS/$sys-$wl-c$c$sfx.json"
  l0=$(load1)
  log "$sys $wl c=$c -> $url (load $l0)"
  cc=$(compilers)
  # In the background and waited for, so that a signal to this script is
  # handled at once (bash runs traps only between foreground commands).
  "$BUILD/bench/coraft-bench" http --api "$sys" --target "$url" --workload "$wl" --connections "$c" \
    --threads "$CLIENT_THREADS" --duration "$DURATION" --warmup "$WARMUP" --timeout 10 --json \
    --cdf "$RESULTS/$sys-$wl-c$c$sfx.cdf" >"$out" &
  CLIENT_PID=$!
  wait "$CLIENT_PID" || log "$sys $wl c=$c: no successful request (see $out)"
  CLIENT_PID=0
  jq -r --arg s "$sys" --arg l0 "$l0" --arg l1 "$(load1)" --arg cc "$cc" --arg rep "$REP" \
    '[$s, .workload, .connections, .ops_per_sec, .p50_us, .p90_us, .p99_us, .p999_us, .max_us, .error_total, .not_found, $l0, $l1, $cc, $rep] | @csv' \
    "$out" | tr -d '"' >>"$CSV"
}

# etcd's native gRPC API, with etcd's own Go client (bench/etcd-grpc-load).
run_grpc() {
  local c=$1 leader out l0 cc bin=$BUILD/bench/etcd-grpc-load
  [ -x "$bin" ] || bash "$ROOT/bench/etcd-grpc-load/build.sh" "$bin" >&2 || { log "gRPC client could not be built; skipped"; GRPC=0; return; }
  leader=$(wait_leader etcd)
  local sfx=""; ((REP > 1)) && sfx="-r$REP"
  out="$RESULTS/etcd-grpc-put-c$c$sfx.json"
  l0=$(load1)
  cc=$(compilers)
  log "etcd-grpc put c=$c -> 127.0.0.3$leader:2379 (load $l0)"
  "$bin" -endpoint "127.0.0.3$leader:2379" -clients "$c" -duration "$DURATION" -warmup "$WARMUP" \
    -cdf "$RESULTS/etcd-grpc-put-c$c$sfx.cdf" >"$out" &
  CLIENT_PID=$!
  wait "$CLIENT_PID" || log "etcd-grpc c=$c failed (see $out)"
  CLIENT_PID=0
  jq -r --arg l0 "$l0" --arg l1 "$(load1)" --arg cc "$cc" --arg rep "$REP" \
    '["etcd-grpc", "put", .connections, .ops_per_sec, .p50_us, .p90_us, .p99_us, .p999_us, .max_us, .error_total, 0, $l0, $l1, $cc, $rep] | @csv' \
    "$out" | tr -d '"' >>"$CSV"
}

step=0
for ((REP = 1; REP <= REPEAT; REP++)); do
  for wl in $WORKLOADS; do
    for c in $CONNECTIONS; do
      # Alternate the order so that drift on the machine hits both alike.
      if ((step % 2 == 0)); then order="coraft etcd"; else order="etcd coraft"; fi
      for sys in $order; do run_one "$sys" "$wl" "$c"; done
      if [ "$wl" = put ] && [ "$GRPC" = 1 ]; then run_grpc "$c"; fi
      step=$((step + 1))
    done
  done
done
echo "load at end: $(cat /proc/loadavg)" >>"$RESULTS/run-info.txt"

# median.csv: each metric's median over the repetitions of a point (the
# lower middle for an even count), with the throughput's min and max.
MED=$RESULTS/median.csv
echo "system,workload,connections,ops_per_sec,p50_us,p90_us,p99_us,ops_min,ops_max,reps" >"$MED"
awk -F, 'NR > 1 { k = $1 "," $2 "," $3; n[k]++; ops[k, n[k]] = $4; p50[k, n[k]] = $5; p90[k, n[k]] = $6; p99[k, n[k]] = $7
               if (!(k in order)) { order[k] = ++m; keys[m] = k } }
     function med(a, k, c,   i, j, v, t) { for (i = 1; i <= c; i++) v[i] = a[k, i] + 0
       for (i = 2; i <= c; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
       return v[int((c + 1) / 2)] }
     function lo(a, k, c,   i, r) { r = a[k, 1] + 0; for (i = 2; i <= c; i++) if (a[k, i] + 0 < r) r = a[k, i] + 0; return r }
     function hi(a, k, c,   i, r) { r = a[k, 1] + 0; for (i = 2; i <= c; i++) if (a[k, i] + 0 > r) r = a[k, i] + 0; return r }
     END { for (i = 1; i <= m; i++) { k = keys[i]; c = n[k]
             printf "%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%d\n", k, med(ops, k, c), med(p50, k, c), med(p90, k, c), med(p99, k, c),
                    lo(ops, k, c), hi(ops, k, c), c } }' "$CSV" >>"$MED"

# The table: one row per workload and connection count (medians).
fmt_us() { awk -v u="$1" 'BEGIN { if (u < 1000) printf "%d us", u; else if (u < 1e6) printf "%.2f ms", u/1e3; else printf "%.2f s", u/1e6 }'; }
{
  printf '\n%-5s %5s | %10s %9s %9s | %10s %9s %9s | %7s' workload conns coraft/s p50 p99 etcd/s p50 p99 ratio
  [ "$GRPC" = 1 ] && printf ' | %10s %9s %9s' etcd-grpc/s p50 p99
  printf '\n'
  for wl in $WORKLOADS; do
    for c in $CONNECTIONS; do
      cr=$(awk -F, -v w="$wl" -v c="$c" '$1=="coraft" && $2==w && $3==c' "$MED")
      er=$(awk -F, -v w="$wl" -v c="$c" '$1=="etcd" && $2==w && $3==c' "$MED")
      [ -n "$cr" ] && [ -n "$er" ] || continue
      IFS=, read -r _ _ _ cops cp50 _ cp99 _ <<<"$cr"
      IFS=, read -r _ _ _ eops ep50 _ ep99 _ <<<"$er"
      ratio=$(awk -v a="$cops" -v b="$eops" 'BEGIN { if (b > 0) printf "%.1fx", a/b; else print "-" }')
      printf '%-5s %5s | %10.0f %9s %9s | %10.0f %9s %9s | %7s' "$wl" "$c" "$cops" "$(fmt_us "$cp50")" "$(fmt_us "$cp99")" \
        "$eops" "$(fmt_us "$ep50")" "$(fmt_us "$ep99")" "$ratio"
      gr=$(awk -F, -v w="$wl" -v c="$c" '$1=="etcd-grpc" && $2==w && $3==c' "$MED")
      if [ -n "$gr" ]; then
        IFS=, read -r _ _ _ gops gp50 _ gp99 _ <<<"$gr"
        printf ' | %10.0f %9s %9s' "$gops" "$(fmt_us "$gp50")" "$(fmt_us "$gp99")"
      fi
      printf '\n'
    done
  done
} | tee "$RESULTS/table.txt"
log "raw results: $RESULTS (summary.csv, one JSON and one latency CDF per run, logs/); figures: bash bench/plot.sh $RESULTS"
