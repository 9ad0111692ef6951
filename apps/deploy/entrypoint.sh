#!/bin/sh
# entrypoint.sh — starts coraft-kv in a container (apps/deploy/Dockerfile) or
# a Kubernetes StatefulSet pod (apps/deploy/k8s/coraft.yaml).
#
#   entrypoint.sh [coraft-kv flags...]    # runs coraft-kv with them
#   entrypoint.sh sh                      # a first argument that is not a flag: runs that command instead
#
# Before it replaces itself with coraft-kv (exec: SIGTERM from the runtime
# reaches coraft-kv, whose exit code is the container's), it fills in what
# was not given by a flag, a CORAFT_* variable or the --config file:
#   CORAFT_ID           the host name's ordinal + 1 (StatefulSet pod coraft-2 -> id 3)
#   CORAFT_DATA_DIR     /var/lib/coraft/data (the image's VOLUME holds /var/lib/coraft)
#   CORAFT_LISTEN_RAFT  0.0.0.0:7001
#   CORAFT_LISTEN_HTTP  0.0.0.0:8001
# CORAFT_CLUSTER (or --cluster) has to be given. CORAFT_KV_BIN names the
# binary (default /usr/local/bin/coraft-kv, else coraft-kv on PATH); it is
# not passed on.
set -eu

me=coraft-entrypoint

# A command instead of flags (docker run IMAGE sh): run it as it is.
if [ $# -gt 0 ]; then
  case $1 in
    -*) ;;
    *) exec "$@" ;;
  esac
fi

bin=${CORAFT_KV_BIN:-/usr/local/bin/coraft-kv}
unset CORAFT_KV_BIN
if [ ! -x "$bin" ]; then
  bin=$(command -v coraft-kv || true)
  if [ -z "$bin" ]; then
    echo "$me: coraft-kv not found (set CORAFT_KV_BIN to its path)" >&2
    exit 2
  fi
fi

# The --config file, if any (a flag wins over CORAFT_CONFIG).
config=${CORAFT_CONFIG:-}
prev=""
for a in "$@"; do
  case $a in
    -h | --help | --version) exec "$bin" "$@" ;;
    --config=*) config=${a#--config=} ;;
  esac
  [ "$prev" = --config ] && config=$a
  prev=$a
done

# given NAME "$@": true when setting NAME (e.g. listen-raft) is set by a flag
# in "$@", its CORAFT_ variable, or a key of the --config file ("listen-raft"
# or "listen_raft").
given() {
  name=$1
  shift
  var=CORAFT_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
  if eval "[ -n \"\${$var:+x}\" ]"; then return 0; fi
  for a in "$@"; do
    case $a in
      "--$name" | "--$name="*) return 0 ;;
    esac
  done
  if [ -n "$config" ] && [ -r "$config" ]; then
    under=$(printf '%s' "$name" | tr '-' '_')
    grep -Eq "\"($name|$under)\"[[:space:]]*:" "$config" && return 0
  fi
  return 1
}

if ! given id "$@"; then
  # shellcheck disable=SC3028 # HOSTNAME: set by container runtimes, else uname -n
  host=${HOSTNAME:-$(uname -n)}
  ord=${host##*-}
  case $host in
    *-*) ;;
    *) ord="" ;;
  esac
  case $ord in
    "" | *[!0-9]*)
      echo "$me: no node id: set CORAFT_ID or --id, or run as a StatefulSet pod whose host name ends in its ordinal" \
        "(coraft-2 -> id 3); the host name is '$host'" >&2
      exit 2
      ;;
  esac
  while :; do  # 08 is not octal
    case $ord in
      0?*) ord=${ord#0} ;;
      *) break ;;
    esac
  done
  CORAFT_ID=$((ord + 1))
  export CORAFT_ID
  echo "$me: node id $CORAFT_ID (host name $host)" >&2
fi
given data-dir "$@" || export CORAFT_DATA_DIR=/var/lib/coraft/data
given listen-raft "$@" || export CORAFT_LISTEN_RAFT=0.0.0.0:7001
given listen-http "$@" || export CORAFT_LISTEN_HTTP=0.0.0.0:8001

exec "$bin" "$@"
