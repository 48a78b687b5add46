"""JupyterHub for the workshop: participants log in, JupyterLab starts as a SLURM job on a compute node.

A sample for sites, tested as it is (tests/test_hub.py starts it against a real SLURM and drives
it with a browser). Start it with ``jupyterhub -f hub/jupyterhub_config.py`` from an environment
with JupyterHub, batchspawner and configurable-http-proxy (``./workshop setup`` builds one).

What a site changes here: the job's size (``JOB_*`` below) and the authenticator. The partition,
account and the style of GPU request come from ``slurm/site.sh``, the file a site edits for the
batch scripts too, through ``slurm/site_options``; the job gets its software as every workbench
job does, with site.sh's ``workbench_activate``.
Authentication stays the site's (JupyterHub's default is PAM: the participants' cluster
accounts); set ``c.JupyterHub.authenticator_class`` below or in a file that loads this one.

This file deliberately imports nothing from the workbench: the hub usually runs in its own
environment, while the job activates the workbench's.
"""

import os
import subprocess
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides get_config in config files)

WORKBENCH_ROOT = Path(os.environ.get("WORKBENCH_ROOT", Path(__file__).resolve().parent.parent))
# What each participant's JupyterLab job asks for, besides the site's partition and account.
JOB_GPUS = 1
JOB_CPUS = 4
JOB_TIME = "04:00:00"
START_TIMEOUT = 600  # seconds a queued job may wait before the hub gives up on the spawn


def site_options(root: Path, gpus: int) -> list[str]:
    """Partition, account and GPU request as every workbench job gets them (``slurm/site_options``)."""
    return subprocess.run([str(root / "slurm" / "site_options"), str(gpus)], capture_output=True, text=True,
                          check=True, env={**os.environ, "WORKBENCH_ROOT": str(root)}).stdout.split()


# ---------------------------------------------------------------- the participant's JupyterLab job
c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
# One `#SBATCH` line holds them all (sbatch reads several options on one line).
c.SlurmSpawner.req_options = " ".join(site_options(WORKBENCH_ROOT, JOB_GPUS))
c.SlurmSpawner.req_nprocs = str(JOB_CPUS)
c.SlurmSpawner.req_runtime = JOB_TIME
# The job gets the workbench's software as every workbench job does (site.sh's workbench_activate),
# and TensorBoard's notebook magic learns its address through jupyter-server-proxy.
# A shared installation is read-only to participants, so their runs' logs go to their home
# (site.sh's default, the checkout's logs/, suits a checkout of one's own); change it here for
# scratch space, e.g. /scratch/$USER/workbench-logs.
c.SlurmSpawner.req_prologue = "\n".join([
    'export WORKBENCH_LOGS="${WORKBENCH_LOGS:-$HOME/workbench-logs}"',
    'source "$WORKBENCH_ROOT/slurm/site.sh"',
    "workbench_activate",
    'export TENSORBOARD_PROXY_URL="${JUPYTERHUB_SERVICE_PREFIX}proxy/%PORT%/"',
])
# The job script gets only the hub's variables (`#SBATCH --export=<them>`), and sbatch hands that
# list on to srun through SLURM_EXPORT_ENV: without --export=ALL the server's job step would start
# with no PATH at all (execve: batchspawner-singleuser: No such file or directory).
c.SlurmSpawner.req_srun = "srun --export=ALL"
c.Spawner.environment = {"WORKBENCH_ROOT": str(WORKBENCH_ROOT)}
c.Spawner.default_url = "/lab"
# A queue can be slow: wait for the job to start, then for JupyterLab to answer.
c.Spawner.start_timeout = START_TIMEOUT
c.Spawner.http_timeout = 120
# The hub submits as the participant (batchspawner's default exec_prefix is `sudo -E -u {username}`):
# run the hub as root, or give its user sudo rights for sbatch/squeue/scancel only.
