# bench/lib-clusters.sh — sourced by the bench scripts: start a local 3-node
# etcd and a 3-node coraft-kv on loopback, find their leaders, and stop
# everything that was started (by pid) from an EXIT/INT/TERM trap.
#
# The caller sets: ROOT (repo), BUILD (build dir), WORK (a mktemp -d dir for
# data and logs). Addresses: coraft on 127.0.0.21-23 (raft :7101, http
# :8101), etcd on 127.0.0.31-33 (client :2379, peer :2380).
#
# etcd gets --heartbeat-interval ETCD_HEARTBEAT_MS (50) and
# --election-timeout ETCD_ELECTION_MS (300); its writes are durable by
# default (fsync of the WAL before acknowledging). coraft-kv runs with its
# defaults unless CORAFT_FLAGS says otherwise: --fsync always, election
# timeout 150 ms (random in [150, 300) ms), heartbeat 50 ms, tick 10 ms.

ETCD_HEARTBEAT_MS=${ETCD_HEARTBEAT_MS:-50}
ETCD_ELECTION_MS=${ETCD_ELECTION_MS:-300}
CORAFT_FLAGS=${CORAFT_FLAGS:-}
CORAFT_CLUSTER="1=127.0.0.21:7101/127.0.0.21:8101,2=127.0.0.22:7101/127.0.0.22:8101,3=127.0.0.23:7101/127.0.0.23:8101"
ETCD_CLUSTER="e1=http://127.0.0.31:2380,e2=http://127.0.0.32:2380,e3=http://127.0.0.33:2380"

declare -a CORAFT_PIDS=(0 0 0) ETCD_PIDS=(0 0 0)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_packages() {
  # need_packages CMD:PACKAGE ... — installs the Debian package of each
  # missing command (apt-get, as root or through sudo).
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (apt-get)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_built() {
  if [ ! -x "$BUILD/apps/coraft-kv" ] || [ ! -x "$BUILD/bench/coraft-bench" ]; then
    log "building coraft-kv and coraft-bench in $BUILD"
    [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    flock /tmp/coraft-build.lock cmake --build "$BUILD" -j2 --target coraft-kv coraft-bench >/dev/null
  fi
}

# Stops one pid: SIGTERM, up to 5 s, then SIGKILL. Only pids this script started.
stop_pid() {
  local pid=$1
  [ "$pid" -gt 0 ] 2>/dev/null || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  local i
  for i in 0 1 2; do stop_pid "${CORAFT_PIDS[$i]}"; CORAFT_PIDS[$i]=0; done
  for i in 0 1 2; do stop_pid "${ETCD_PIDS[$i]}"; ETCD_PIDS[$i]=0; done
}

start_coraft_node() {  # start_coraft_node I (1-3)
  local i=$1
  mkdir -p "$WORK/coraft/n$i"
  # shellcheck disable=SC2086
  "$BUILD/apps/coraft-kv" --id "$i" --cluster "$CORAFT_CLUSTER" --data-dir "$WORK/coraft/n$i" \
    --log-level "${CORAFT_LOG_LEVEL:-warn}" $CORAFT_FLAGS >>"$WORK/coraft/n$i.log" 2>&1 &
  CORAFT_PIDS[$((i - 1))]=$!
}

start_etcd_node() {  # start_etcd_node I (1-3); restarts reuse the data dir
  local i=$1 a="127.0.0.3$1"
  mkdir -p "$WORK/etcd"
  etcd --name "e$i" --data-dir "$WORK/etcd/e$i" \
    --listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
    --listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state new --initial-cluster-token coraft-bench \
    --heartbeat-interval "$ETCD_HEARTBEAT_MS" --election-timeout "$ETCD_ELECTION_MS" \
    --logger zap --log-level warn >>"$WORK/etcd/e$i.log" 2>&1 &
  ETCD_PIDS[$((i - 1))]=$!
}

start_coraft() { local i; for i in 1 2 3; do start_coraft_node "$i"; done; }
start_etcd() { local i; for i in 1 2 3; do start_etcd_node "$i"; done; }

# Prints the leader's node number (1-3), or nothing.
coraft_leader() {
  local i
  for i in 1 2 3; do
    if curl -s --max-time 1 "http://127.0.0.2$i:8101/v1/status" | grep -q '"role":"leader"'; then
      echo "$i"; return 0
    fi
  done
}
etcd_leader() {
  local i s
  for i in 1 2 3; do
    s=$(curl -s --max-time 1 -X POST -d '{}' "http://127.0.0.3$i:2379/v3/maintenance/status" || true)
    # The member answering is the leader when its own id is the leader id.
    if [ -n "$s" ] && [ "$(echo "$s" | jq -r '.header.member_id // empty')" = "$(echo "$s" | jq -r '.leader // empty')" ] &&
       [ -n "$(echo "$s" | jq -r '.leader // empty')" ]; then
      echo "$i"; return 0
    fi
  done
}

# wait_leader coraft|etcd — waits up to 20 s; prints the leader's number.
wait_leader() {
  local sys=$1 l="" i pids
  for _ in $(seq 1 200); do
    if [ "$sys" = coraft ]; then pids=("${CORAFT_PIDS[@]}"); else pids=("${ETCD_PIDS[@]}"); fi
    for i in 0 1 2; do
      kill -0 "${pids[$i]}" 2>/dev/null ||
        die "$sys node $((i + 1)) exited; see $WORK/$sys/ logs: $(tail -3 "$WORK/$sys/"*"$((i + 1)).log" 2>/dev/null)"
    done
    l=$("${sys}_leader")
    [ -n "$l" ] && { echo "$l"; return 0; }
    sleep 0.1
  done
  die "$sys: no leader after 20 s (logs in $WORK/$sys)"
}

leader_url() {  # leader_url coraft|etcd N
  if [ "$1" = coraft ]; then echo "http://127.0.0.2$2:8101"; else echo "http://127.0.0.3$2:2379"; fi
}

load1() { cut -d' ' -f1 /proc/loadavg; }
