#!/usr/bin/env bash
# bench/plot.sh — renders the figures of a results folder with gnuplot
# (Debian's gnuplot-nox, installed if missing), as SVG and PNG into
# RESULTS/figures/:
#   throughput-put / throughput-get     requests/s against connections (compare-etcd.sh median.csv)
#   latency-put-cN / latency-get-cN     latency CDFs at N connections (the runs' *.cdf files)
#   failover                            kill -> first write CDFs (failover-*.json)
#   election-CONFIG                     Figure 16 CDFs (election-*.dat, coraft-election-experiment --out)
#   bash bench/plot.sh bench/results/compare-...      # any folder holding some of these
set -euo pipefail
dir=${1:?usage: plot.sh RESULTS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v gnuplot >/dev/null || {
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gnuplot-nox >/dev/null
}
fig=$dir/figures
tmp=$dir/figures/data
mkdir -p "$fig" "$tmp"
made=()
draw() {  # draw OUT HEADING XLAB YLAB FILES TITLES [extra gnuplot assignments]
  local out=$1 heading=$2 xlab=$3 ylab=$4 files=$5 titles=$6 extra=${7:-}
  gnuplot -e "out='$out'; heading='$heading'; xlab='$xlab'; ylab='$ylab'; files='$files'; titles='$titles'; $extra" \
    "$here/plot-lines.gp"
  made+=("$out.svg" "$out.png")
}

# Throughput against connections.
# median.csv (compare-etcd.sh --repeat) when there, else summary.csv: same first columns.
csv=$dir/median.csv
[ -f "$csv" ] || csv=$dir/summary.csv
if [ -f "$csv" ]; then
  for wl in put get; do
    files="" titles=""
    for sys in coraft etcd etcd-grpc; do
      f=$tmp/tput-$sys-$wl.dat
      awk -F, -v s="$sys" -v w="$wl" 'NR > 1 && $1 == s && $2 == w { print $3, $4, $5, $7 }' "$csv" | sort -n >"$f"
      [ -s "$f" ] || continue
      case $sys in
        coraft) t='"coraft-kv (HTTP)"' ;; etcd) t='"etcd 3.4 (JSON gateway)"' ;; *) t='"etcd 3.4 (gRPC, Go client)"' ;;
      esac
      files+=" $f"; titles+=" $t"
    done
    [ -n "$files" ] && draw "$fig/throughput-$wl" "$wl: requests/s against connections (3 nodes, loopback, 128-byte values)" \
      connections requests/s "$files" "$titles" "logx=1"
  done
fi

# Latency CDFs, one chart per workload and connection count.
for f in "$dir"/coraft-*-c*.cdf; do
  [ -e "$f" ] || break
  base=$(basename "$f" .cdf)
  case $base in *-r[0-9]*) continue ;; esac  # repetitions 2..N: the first one is drawn
  rest=${base#coraft-}; wl=${rest%-c*}; c=${rest##*-c}
  files="$f" titles='"coraft-kv (HTTP)"'
  [ -s "$dir/etcd-$wl-c$c.cdf" ] && { files+=" $dir/etcd-$wl-c$c.cdf"; titles+=' "etcd (JSON gateway)"'; }
  [ -s "$dir/etcd-grpc-$wl-c$c.cdf" ] && { files+=" $dir/etcd-grpc-$wl-c$c.cdf"; titles+=' "etcd (gRPC)"'; }
  draw "$fig/latency-$wl-c$c" "$wl latency CDF at $c connections" "latency (ms)" "fraction of requests" \
    "$files" "$titles" 'cols="($1/1000):2"; style="lines"; logx=0'
done

# Failover CDFs.
files="" titles=""
for f in "$dir"/failover-*.json; do
  [ -e "$f" ] || break
  sys=$(jq -r .system "$f")
  d=$tmp/failover-$sys.dat
  jq -r '.times_ms | sort | to_entries | map("\(.value) \((.key + 1) / length)") | .[]' "$f" >"$d"
  files+=" $d"; titles+=" \"$sys ($(jq -r '.recovered' "$f") runs, median $(jq -r '.median_ms' "$f") ms)\""
done
[ -n "$files" ] && draw "$fig/failover" "kill -9 of the leader: time to the first successful write" "ms" \
  "fraction of runs" "$files" "$titles" 'style="linespoints"'

# Figure 16: election time CDFs, one chart per configuration, with the
# paper's published figures as points [§9.3]: 150-155 ms median about 287
# ms, 150-200 ms worst of 1,000 trials 513 ms, 150-150 ms above 10 s.
marks=$tmp/election-paper.dat
printf '%s\n' '287 0.5 "paper 150-155: median about 287 ms"' '513 1.0 "paper 150-200: worst 513 ms"' \
  '10000 0.5 "paper 150-150: above 10 s"' >"$marks"
for cfg in raft prevote coraft; do
  files="" titles=""
  for f in "$dir"/election-$cfg-*.dat; do
    [ -e "$f" ] || break
    r=$(basename "$f" .dat); r=${r#election-$cfg-}
    files+=" $f"; titles+=" \"$r ms\""
  done
  [ -n "$files" ] && draw "$fig/election-$cfg" "Figure 16 ($cfg): time without a leader after a crash" \
    "ms since the leader crashed (log scale)" "cumulative fraction of trials" "$files" "$titles" \
    "style=\"lines\"; logx=1; marks='$marks'"
done
echo "figures: ${made[*]:-none (no data found in $dir)}"
