# Site configuration: the ONE file a site edits. Sourced by slurm/submit and by every job script.
#
# Values already in the environment win, so a user can try `WORKBENCH_PARTITION=gpu-test slurm/submit ...`.

# Scheduler options added to every submission (leave empty where the site needs none).
: "${WORKBENCH_PARTITION:=}"          # e.g. gpu
: "${WORKBENCH_ACCOUNT:=}"            # e.g. project_2001234
# How GPUs are requested: the flag, and how many GPUs a node has. Empty flag = no GPU request
# (CPU-only test clusters such as the one scripts/local_slurm.sh starts).
: "${WORKBENCH_GPU_FLAG:=}"           # e.g. --gpus-per-task   (or --gres=gpu: on older sites)
: "${WORKBENCH_GPUS_PER_NODE:=4}"
# Where shared datasets are staged (workbench data verify checks them) and where runs log.
: "${WORKBENCH_DATA:=}"               # e.g. /project/shared/workbench-data
: "${WORKBENCH_LOGS:=$WORKBENCH_ROOT/logs}"
export WORKBENCH_PARTITION WORKBENCH_ACCOUNT WORKBENCH_GPU_FLAG WORKBENCH_GPUS_PER_NODE \
       WORKBENCH_DATA WORKBENCH_LOGS WORKBENCH_OFFLINE=1   # compute nodes: never try to download

# How a job gets the software stack. Replace with the site's way, e.g.
#   module load tensorflow/2.21   or   source /appl/conda/etc/profile.d/conda.sh; conda activate keras-workbench
workbench_activate() {
  # shellcheck disable=SC1091
  source "$WORKBENCH_ROOT/.venv/bin/activate"
}
