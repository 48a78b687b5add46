"""The site's scheduler options, one rule for slurm/submit, the hub's spawner and Open OnDemand."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
SITE_VARIABLES = ("WORKBENCH_PARTITION", "WORKBENCH_ACCOUNT", "WORKBENCH_GPU_FLAG")


def site_env(**values: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SITE_VARIABLES}
    return {**env, "WORKBENCH_ROOT": str(ROOT), **values}


def site_options(gpus: str, **values: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "slurm" / "site_options"), gpus], env=site_env(**values),
                          capture_output=True, text=True)


def test_site_options_follow_site_sh_in_both_gpu_styles():
    plain = site_options("2", WORKBENCH_PARTITION="gpu", WORKBENCH_ACCOUNT="project_1",
                         WORKBENCH_GPU_FLAG="--gpus-per-task")
    assert plain.stdout.split("\n") == ["--partition=gpu", "--account=project_1", "--gpus-per-task=2", ""]
    gres = site_options("4", WORKBENCH_GPU_FLAG="--gres=gpu:")
    assert gres.stdout == "--gres=gpu:4\n"


def test_site_options_ask_for_no_gpu_when_none_is_wanted_or_the_site_has_no_flag():
    assert site_options("0", WORKBENCH_GPU_FLAG="--gpus-per-task").stdout == ""
    assert site_options("1").stdout == ""  # a CPU-only cluster (the local test SLURM)


def test_site_options_refuse_a_gpu_count_that_is_not_a_number():
    refused = site_options("two")
    assert refused.returncode == 2 and "GPUS must be a number, got 'two'" in refused.stderr


def load_hub_config(monkeypatch, **values: str) -> Config:
    """hub/jupyterhub_config.py as JupyterHub loads it: executed with ``get_config`` provided."""
    for name in SITE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORKBENCH_ROOT", str(ROOT))
    config = Config()
    path = ROOT / "hub" / "jupyterhub_config.py"
    exec(compile(path.read_text(), str(path), "exec"), {"get_config": lambda: config, "__file__": str(path)})
    return config


def test_sample_hub_spawns_with_the_sites_partition_account_and_gpu_request(monkeypatch):
    config = load_hub_config(monkeypatch, WORKBENCH_PARTITION="gpu", WORKBENCH_ACCOUNT="project_1",
                             WORKBENCH_GPU_FLAG="--gres=gpu:")
    spawner = config.SlurmSpawner
    assert config.JupyterHub.spawner_class == "batchspawner.SlurmSpawner"
    assert spawner.req_options == "--partition=gpu --account=project_1 --gres=gpu:1"
    # The job activates the software the site's way and tells TensorBoard's magic the proxied address.
    assert 'source "$WORKBENCH_ROOT/slurm/site.sh"\nworkbench_activate' in spawner.req_prologue
    assert 'TENSORBOARD_PROXY_URL="${JUPYTERHUB_SERVICE_PREFIX}proxy/%PORT%/"' in spawner.req_prologue
    assert config.Spawner.environment == {"WORKBENCH_ROOT": str(ROOT)}


def test_batchspawner_renders_the_sample_configuration_into_a_job_script(monkeypatch):
    """The values reach a real SlurmSpawner's job script (what sbatch receives), not only the config."""
    pytest.importorskip("batchspawner")
    from batchspawner import SlurmSpawner
    from batchspawner.batchspawner import format_template

    config = load_hub_config(monkeypatch, WORKBENCH_PARTITION="gpu", WORKBENCH_GPU_FLAG="--gpus-per-task")
    spawner = SlurmSpawner(config=config)
    subvars = {name[4:]: getattr(spawner, name) for name in spawner.trait_names()
               if name.startswith("req_") and name not in ("req_username", "req_homedir", "req_keepvars")}
    subvars.update(homedir="/home/p", keepvars="JUPYTERHUB_API_TOKEN,WORKBENCH_ROOT", username="p",
                   cmd="batchspawner-singleuser jupyterhub-singleuser")
    script = format_template(spawner.batch_script, **subvars)
    assert "#SBATCH --partition=gpu --gpus-per-task=1\n" in script
    assert "#SBATCH --cpus-per-task=4\n" in script and "#SBATCH --time=04:00:00\n" in script
    assert script.index("workbench_activate") < script.index("batchspawner-singleuser")
