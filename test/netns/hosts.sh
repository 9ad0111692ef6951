#!/usr/bin/env bash
# hosts.sh — several "hosts" on one Linux machine, for tests of real
# processes that need real networks between them (coraft-chaos's partition
# nemeses; the multi-host deployment tests). Needs root, iproute2 and
# iptables.
#
# Each host is a network namespace PREFIX-nI with one interface, eth0,
# addressed SUBNET.(10+I)/24: the other end of a veth pair plugged into the
# bridge PREFIX-br (SUBNET.1/24) in the caller's namespace, so the caller
# reaches every host and the hosts reach each other. A partition is the
# firewall of the hosts concerned (iptables in their namespace), as on real
# machines: the bridge and the caller are never cut off.
#
#   hosts.sh up PREFIX N        create N hosts (removing PREFIX's leftovers
#                               first); prints "I ADDRESS NAMESPACE" per host
#   hosts.sh down PREFIX        remove every namespace, veth and the bridge of
#                               PREFIX (also what a killed run left behind)
#   hosts.sh cut PREFIX A B     host A drops what comes from host B
#                               (one way: run it twice, swapped, for both)
#   hosts.sh heal PREFIX [A]    flush host A's firewall (every host without A)
#   hosts.sh addr PREFIX I      host I's address
#   hosts.sh names PREFIX [NAME=ADDRESS]...
#                               every host's /etc/hosts (`ip netns exec`
#                               mounts /etc/netns/NS/hosts over it) maps
#                               NAME to ADDRESS: name resolution as on a
#                               network with DNS. Rewritten in place, so a
#                               running process sees the change at its next
#                               lookup (glibc reads the file each time).
#                               Other names fail at once (resolv.conf names
#                               the host's own loopback, where no DNS
#                               server listens): no query leaves the hosts
#   hosts.sh move PREFIX I ADDRESS
#                               host I gets ADDRESS (in SUBNET) instead of
#                               its own: a machine that came back elsewhere
#
# SUBNET is the environment variable CORAFT_NETNS_SUBNET (default 10.77.0).
# PREFIX is at most 8 characters (interface names are at most 15).
set -euo pipefail

subnet=${CORAFT_NETNS_SUBNET:-10.77.0}
cmd=${1:-}
prefix=${2:-}
die() { echo "hosts.sh: $*" >&2; exit 2; }
[ -n "$cmd" ] && [ -n "$prefix" ] || die "usage: hosts.sh up|down|cut|heal|addr PREFIX ..."
[[ "$prefix" =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "PREFIX must be 1 to 8 lower-case letters or digits, starting with a letter"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces and iptables)"

addr() { echo "$subnet.$((10 + $1))"; }
ns() { echo "$prefix-n$1"; }

down() {
  local n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix-n[0-9]+$" || true); do
    ip netns del "$n" 2>/dev/null || true
  done
  # A veth's root end goes with its namespace's end; a bridge stays.
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$prefix-h[0-9]+$" || true); do
    ip link del "$n" 2>/dev/null || true
  done
  ip link del "$prefix-br" 2>/dev/null || true
  rm -rf /etc/netns/"$prefix"-n[0-9]* 2>/dev/null || true
}

case "$cmd" in
  up)
    count=${3:-}
    [[ "$count" =~ ^[1-9][0-9]?$ ]] || die "up needs a host count (1 to 99)"
    command -v iptables >/dev/null || die "iptables is missing (apt-get install iptables)"
    down
    # nf_call_iptables 0: on a host with br_netfilter loaded and a FORWARD
    # policy of DROP (any Docker host), frames between the bridge's ports
    # would meet the host's firewall and the hosts could not reach each other.
    ip link add "$prefix-br" type bridge nf_call_iptables 0
    ip addr add "$subnet.1/24" dev "$prefix-br"
    ip link set "$prefix-br" up
    for i in $(seq 1 "$count"); do
      ip netns add "$(ns "$i")"
      ip link add "$prefix-h$i" type veth peer name "$prefix-e$i"
      ip link set "$prefix-e$i" netns "$(ns "$i")"
      ip link set "$prefix-h$i" master "$prefix-br"
      ip link set "$prefix-h$i" up
      ip netns exec "$(ns "$i")" ip link set "$prefix-e$i" name eth0
      ip netns exec "$(ns "$i")" ip addr add "$(addr "$i")/24" dev eth0
      ip netns exec "$(ns "$i")" ip link set eth0 up
      ip netns exec "$(ns "$i")" ip link set lo up
      ip netns exec "$(ns "$i")" ip route add default via "$subnet.1"
      echo "$i $(addr "$i") $(ns "$i")"
    done
    ;;
  down) down ;;
  cut)
    a=${3:-}; b=${4:-}
    [[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] || die "cut needs two host numbers"
    ip netns exec "$(ns "$a")" iptables -w -A INPUT -s "$(addr "$b")" -j DROP
    ;;
  heal)
    if [ -n "${3:-}" ]; then
      ip netns exec "$(ns "$3")" iptables -w -F INPUT
    else
      for n in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-n[0-9]+$" || true); do
        ip netns exec "$n" iptables -w -F INPUT
      done
    fi
    ;;
  addr) addr "${3:?host number}" ;;
  names)
    shift 2
    lines="127.0.0.1 localhost"$'\n'
    for pair in "$@"; do
      [[ "$pair" =~ ^([a-z0-9.-]+)=([0-9.]+)$ ]] || die "names takes NAME=ADDRESS, not '$pair'"
      lines+="${BASH_REMATCH[2]} ${BASH_REMATCH[1]}"$'\n'
    done
    for n in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-n[0-9]+$" || true); do
      mkdir -p "/etc/netns/$n"
      # In place (not a rename): the file is bind-mounted into the running
      # processes of `ip netns exec`, which must see the new contents.
      printf '%s' "$lines" > "/etc/netns/$n/hosts"
      # No DNS server but the host's own loopback (where none listens): a
      # name missing from hosts fails at once, as NXDOMAIN would, and no
      # query leaves the namespaces.
      [ -f "/etc/netns/$n/resolv.conf" ] || printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' > "/etc/netns/$n/resolv.conf"
    done
    ;;
  move)
    i=${3:-}; to=${4:-}
    [[ "$i" =~ ^[0-9]+$ && "$to" =~ ^[0-9.]+$ ]] || die "move needs a host number and an address"
    ip netns exec "$(ns "$i")" ip addr flush dev eth0
    ip netns exec "$(ns "$i")" ip addr add "$to/24" dev eth0
    ip netns exec "$(ns "$i")" ip route add default via "$subnet.1" 2>/dev/null || true
    ;;
  *) die "unknown command '$cmd' (up, down, cut, heal, addr, names, move)" ;;
esac
