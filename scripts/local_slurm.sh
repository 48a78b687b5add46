#!/usr/bin/env bash
# A real single-node SLURM on localhost for tests and demos (no systemd needed).
#
#   scripts/local_slurm.sh start    install if missing (Debian packages), configure, start, wait until up
#                                   (a second start leaves a running SLURM alone)
#   scripts/local_slurm.sh stop     stop the daemons
#
# One node with this machine's CPUs and no GPUs, partition "debug". Settings chosen for fast,
# predictable tests (measured, see shared/FACTS.md): jobs start in < 1 s, requeued jobs restart
# in ~15 s, impossible requests are refused instead of pending forever.
set -euo pipefail
STATE=${WORKBENCH_SLURM_STATE:-/var/lib/workbench-slurm}
CONF_DIR=/etc/slurm

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

write_config() {
  local node name host
  # `./workshop test` may start us on a developer's machine: never overwrite a slurm.conf that is
  # not ours (a real cluster's, or one the admin wrote).
  if [[ -e "$CONF_DIR/slurm.conf" ]] && ! grep -qx 'ClusterName=workbench' "$CONF_DIR/slurm.conf"; then
    echo "local_slurm: $CONF_DIR/slurm.conf is not ours (no ClusterName=workbench); leaving it alone" >&2
    return 1
  fi
  node=$(slurmd -C | head -1)   # NodeName=... CPUs=... as this machine really is
  name=${node#NodeName=}; name=${name%% *}
  host=$(hostname -s)
  mkdir -p "$CONF_DIR" "$STATE"/{ctld,d} /var/log/slurm
  cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=workbench
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
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
}

node_up() {
  # Registered with slurmctld; a node busy with jobs (another run's, or requeued ones restarted from
  # the saved state) is up too, not only an idle one.
  sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed|allocated|completing'
}

start() {
  # Run before every `./workshop test`: a SLURM already up (maybe running another run's jobs) is
  # left as it is, its config not rewritten under the running daemons.
  if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null && node_up; then sinfo; return 0; fi
  install_packages
  start_munge
  write_config
  pgrep -x slurmctld >/dev/null || slurmctld -i
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 1 60); do
    if node_up; then sinfo; return 0; fi
    sleep 0.5
  done
  echo "local_slurm: the node did not come up; see /var/log/slurm/" >&2
  tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  return 1
}

stop() {
  pkill -x slurmd || true
  pkill -x slurmctld || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
