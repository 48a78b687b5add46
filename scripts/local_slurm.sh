#!/usr/bin/env bash
# A real SLURM on this one machine for tests and demos (no systemd needed).
#
#   scripts/local_slurm.sh start    install if missing (Debian packages), configure, start, wait until up
#                                   (a second start leaves a running SLURM alone)
#   scripts/local_slurm.sh stop     stop the daemons and remove the namespace nodes
#
# Partition "debug" (the default): one node, this machine, with its CPUs and no GPUs.
# Partition "twonode": nodes n1 and n2 (one CPU each), each a slurmd in its own network namespace
# with its own hostname and address (scripts/netns_nodes.sh), so multi-node jobs really cross a
# network: TF_CONFIG and Horovod's rendezvous see two hosts. Skipped, with a note, where network
# namespaces cannot be made (WORKBENCH_SLURM_NETNS=0 skips them on purpose).
# Settings chosen for fast, predictable tests (measured, see shared/FACTS.md): jobs start in < 1 s,
# requeued jobs restart in ~15 s, impossible requests are refused instead of pending forever.
set -euo pipefail
STATE=${WORKBENCH_SLURM_STATE:-/var/lib/workbench-slurm}
CONF_DIR=/etc/slurm
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS_NODES=(n1 n2)  # the names scripts/netns_nodes.sh gives them, at 10.77.0.11 and .12

install_packages() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  pgrep -x munged >/dev/null && return
  [[ -s /etc/munge/munge.key ]] || { mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  # munged refuses to run as root ("Logfile is insecure"), so run it as its own user.
  su -s /bin/sh munge -c /usr/sbin/munged
}

write_config() {  # [with_nodes]
  local node name host with_nodes=${1:-} controller
  # `./workshop test` may start us on a developer's machine: never overwrite a slurm.conf that is
  # not ours (a real cluster's, or one the admin wrote).
  if [[ -e "$CONF_DIR/slurm.conf" ]] && ! grep -qx 'ClusterName=workbench' "$CONF_DIR/slurm.conf"; then
    echo "local_slurm: $CONF_DIR/slurm.conf is not ours (no ClusterName=workbench); leaving it alone" >&2
    return 1
  fi
  node=$(slurmd -C | head -1)   # NodeName=... CPUs=... as this machine really is
  name=${node#NodeName=}; name=${name%% *}
  host=$(hostname -s)
  # The namespace nodes reach the controller over the bridge; the host's own name may resolve to
  # 127.0.0.1, which inside a namespace is the namespace itself.
  controller=$host${with_nodes:+(10.77.0.1)}
  mkdir -p "$CONF_DIR" "$STATE"/ctld /var/log/slurm
  cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=workbench
SlurmctldHost=$controller
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d-%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_interval=5
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=600
$node State=UNKNOWN
PartitionName=debug Nodes=$name Default=YES MaxTime=INFINITE State=UP
CONF
  if [[ -n $with_nodes ]]; then
    cat >> "$CONF_DIR/slurm.conf" <<CONF
NodeName=n1 NodeAddr=10.77.0.11 CPUs=1 State=UNKNOWN
NodeName=n2 NodeAddr=10.77.0.12 CPUs=1 State=UNKNOWN
PartitionName=twonode Nodes=n1,n2 MaxTime=INFINITE State=UP
CONF
  fi
}

start_node_daemons() {  # one slurmd per namespace, each with its node's hostname
  local node
  for node in "${NETNS_NODES[@]}"; do
    [[ -f /run/slurmd-$node.pid ]] && kill -0 "$(cat "/run/slurmd-$node.pid")" 2>/dev/null && continue
    # `ip netns exec` would remount /sys and hide the cgroup tree slurmd needs; nsenter does not.
    nsenter --net="/var/run/netns/wb$node" unshare --uts sh -c "hostname $node; exec slurmd -N $node"
  done
}

nodes_up() {  # N: that many nodes registered with slurmctld
  # A node busy with jobs (another run's, or requeued ones restarted from the saved state) is up
  # too, not only an idle one.
  local states; states=$(sinfo -h -N -o %T 2>/dev/null) || return 1
  (($(grep -cE '^(idle|mixed|allocated|completing)' <<<"$states") >= $1))
}

start() {
  # Run before every `./workshop test`: a SLURM already up (maybe running another run's jobs) with
  # the nodes wanted is left as it is, its config not rewritten under the running daemons.
  local with_nodes="" want=1
  if [[ ${WORKBENCH_SLURM_NETNS:-1} == 1 ]] && "$HERE/netns_nodes.sh" up; then
    with_nodes=1 want=3
  else
    echo "local_slurm: no network namespaces here: one node only, the two-node tests will not run" >&2
  fi
  if pgrep -x slurmctld >/dev/null && nodes_up "$want"; then sinfo; return 0; fi
  install_packages
  start_munge
  stop_daemons  # a running SLURM without the wanted nodes: restart it with them
  write_config "$with_nodes"
  slurmctld -i
  slurmd
  [[ -z $with_nodes ]] || start_node_daemons
  for _ in $(seq 1 60); do
    if nodes_up "$want"; then sinfo; return 0; fi
    sleep 0.5
  done
  echo "local_slurm: the node did not come up; see /var/log/slurm/" >&2
  tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd-*.log >&2 || true
  return 1
}

stop_daemons() {
  pkill -x slurmd || true
  pkill -x slurmctld || true
  for _ in $(seq 1 20); do pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || return 0; sleep 0.25; done
}

stop() {
  stop_daemons
  "$HERE/netns_nodes.sh" down
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
