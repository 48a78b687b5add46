# Shared job-script helpers (sourced by slurm/*.sbatch; sites edit site.sh, not this file).
set -euo pipefail
# Batch environments do not always set USER (run dirs and the tunnel line need it).
: "${USER:=$(id -un)}"
export USER
# SLURM may signal before the lab has started (--signal arrives up to a minute early): remember it.
early_usr1=0
trap 'early_usr1=1' USR1
WORKBENCH_ROOT=${WORKBENCH_ROOT:-$SLURM_SUBMIT_DIR}
export WORKBENCH_ROOT
cd "$WORKBENCH_ROOT"
# shellcheck disable=SC1091
source "$WORKBENCH_ROOT/slurm/site.sh"
workbench_activate
echo "[$SLURM_JOB_NAME] job $SLURM_JOB_ID on $(hostname) (nodes: ${SLURM_JOB_NODELIST:-?}," \
     "tasks: ${SLURM_NTASKS:-1}, restart ${SLURM_RESTART_COUNT:-0})"

# Run a command in the background and, when SLURM sends USR1 before the time limit
# (--signal=B:USR1@...), pass it on so the lab checkpoints and exits, then requeue this job,
# which resumes from the checkpoint. --open-mode=append keeps the earlier output.
run_with_requeue() {
  "$@" &
  local child=$!
  requeue() {
    echo "[$SLURM_JOB_NAME] time limit near: checkpointing, then requeue"
    kill -USR1 "$child" 2>/dev/null || true
    wait "$child" || true
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
  }
  trap requeue USR1
  ((early_usr1)) && requeue
  wait "$child"
}

# The ssh tunnel a user on their laptop needs to reach PORT on this compute node.
print_tunnel() {
  local port=$1 what=$2
  echo "[$SLURM_JOB_NAME] $what is on $(hostname):$port. On your laptop run:"
  echo "    $(python -c 'import sys; from workbench.board import tunnel_line
print(tunnel_line(int(sys.argv[1]), sys.argv[2]))' "$port" "$(hostname)")"
  echo "then open http://localhost:$port/"
}
