#!/usr/bin/env bash
# Two "compute nodes" on this one machine for the SLURM tests: each a Linux network namespace
# with its own address, joined by a bridge, so that jobs across nodes really talk over a network.
#
#   scripts/netns_nodes.sh up      bridge wbbr0 10.77.0.1/24; namespaces wbn1, wbn2 with eth0 at
#                                  10.77.0.11 and 10.77.0.12; "n1" and "n2" in /etc/hosts
#   scripts/netns_nodes.sh down    remove all of it
#   scripts/netns_nodes.sh check   exit 0 when the nodes are up
#
# Only addresses this script creates are used (10.77.0.0/24, no route outside). Inside each
# namespace the interface is called eth0, as on a real cluster whose nodes share interface
# names, so one HOROVOD_GLOO_IFACE fits every node. scripts/local_slurm.sh starts one slurmd in
# each namespace (root needed; measured in shared/FACTS.md, "Two SLURM nodes on one machine").
set -euo pipefail
BRIDGE=wbbr0 SUBNET=10.77.0 NODES=(n1 n2) MARK="# workbench-netns"

has_netns() {  # (grep -q in a pipe would stop `ip` early, and pipefail would count that as failure)
  local names; names=$(ip netns list)
  grep -qw "$1" <<<"$names"
}

up() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  [[ $(ip addr show dev "$BRIDGE") == *"$SUBNET.1/"* ]] || ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local i=0 node
  for node in "${NODES[@]}"; do
    i=$((i + 1))
    has_netns "wb$node" || ip netns add "wb$node"
    ip link show "wbv$i" >/dev/null 2>&1 || ip link add "wbv$i" type veth peer name eth0 netns "wb$node"
    ip link set "wbv$i" master "$BRIDGE" up
    [[ $(ip -n "wb$node" addr show dev eth0) == *"$SUBNET.1$i/"* ]] || ip -n "wb$node" addr add "$SUBNET.1$i/24" dev eth0
    ip -n "wb$node" link set eth0 up
    ip -n "wb$node" link set lo up
    grep -q "^$SUBNET.1$i $node " /etc/hosts || echo "$SUBNET.1$i $node $MARK" >> /etc/hosts
  done
}

down() {
  local i=0 node
  for node in "${NODES[@]}"; do
    i=$((i + 1))
    ip link del "wbv$i" 2>/dev/null || true
    ip netns del "wb$node" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if grep -q "$MARK" /etc/hosts; then  # /etc/hosts may be a bind mount: rewrite it in place
    local kept; kept=$(grep -v "$MARK" /etc/hosts); printf '%s\n' "$kept" > /etc/hosts
  fi
}

check() {
  local node
  for node in "${NODES[@]}"; do
    has_netns "wb$node" || return 1
    [[ $(ip -n "wb$node" addr show dev eth0 2>/dev/null) == *"$SUBNET."* ]] || return 1
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  check) check ;;
  *) echo "usage: $0 up|down|check" >&2; exit 2 ;;
esac
