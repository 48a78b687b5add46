"""The real slurm/*.sbatch scripts, submitted to a real SLURM (scripts/local_slurm.sh): partition
"debug" is this machine, partition "twonode" two nodes in network namespaces, where the
multi-worker and Horovod jobs run across nodes as on a cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("sbatch") is None or subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("SLURM is not running: .ci/run starts it with scripts/local_slurm.sh start")
        pytest.skip("no SLURM here (scripts/local_slurm.sh start)")


@pytest.fixture(scope="module")
def two_nodes(slurm):
    """Partition "twonode": n1 and n2, each a slurmd in its own network namespace with its own
    hostname and address (scripts/netns_nodes.sh, started by scripts/local_slurm.sh)."""
    shown = subprocess.run(["sinfo", "-h", "-N", "-p", "twonode", "-o", "%N %T"], capture_output=True,
                           text=True).stdout.split("\n")
    if sum(1 for line in shown if line.split()[1:] and line.split()[1] in ("idle", "mixed")) < 2:
        message = "no two-node partition (scripts/local_slurm.sh start makes one where netns work)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def job_env(real_data, tmp_path):
    return {**os.environ, "WORKBENCH_DATA": str(real_data), "WORKBENCH_LOGS": str(tmp_path / "logs"),
            "WORKBENCH_QUICK": "1", "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}


def submit(script, env, tmp_path, *options, lab_args=()):
    done = subprocess.run([str(ROOT / "slurm" / "submit"), str(ROOT / "slurm" / script),
                           f"--output={tmp_path}/%x-%j.out", *options, "--", *lab_args],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def job_states(job: str) -> list[str]:
    shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True).stdout
    return [part.split("=", 1)[1] for line in shown.splitlines() for part in line.split()
            if part.startswith("JobState=")]


def wait(job: str, timeout: float = 600) -> list[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = job_states(job)
        if states and all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
                          for s in states):
            return states
        time.sleep(2)
    subprocess.run(["scancel", job])
    pytest.fail(f"job {job} did not finish in {timeout} s (states {job_states(job)})")


def outputs(tmp_path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("*.out")))


def max_difference(folder) -> float:
    a, b = np.load(folder / "rank0.npz"), np.load(folder / "rank1.npz")
    return max(float(np.abs(a[key] - b[key]).max()) for key in a.files)


@pytest.mark.parametrize("script", ["horovod.sbatch", "multiworker.sbatch"])
def test_job_trains_across_two_nodes_with_identical_weights(two_nodes, job_env, tmp_path, script):
    """The real job scripts, unmodified, on two nodes with their own addresses: one rank per node,
    TF_CONFIG and Horovod's rendezvous on the nodes' real addresses, identical weights."""
    horovod_missing = subprocess.run([sys.executable, "-c", "import horovod.tensorflow"]).returncode
    if script == "horovod.sbatch" and horovod_missing:
        pytest.fail("Horovod is not built: scripts/build_horovod.sh")
    job = submit(script, {**job_env, "WORKBENCH_PARTITION": "twonode"}, tmp_path,
                 lab_args=["--dump-weights", str(tmp_path / "w")])
    assert wait(job) == ["COMPLETED"], outputs(tmp_path)[-4000:]
    assert max_difference(tmp_path / "w") == 0.0
    log = outputs(tmp_path)
    strategy = script.split(".")[0]
    assert "(nodes: n[1-2], tasks: 2" in log and f"2 replica(s), strategy {strategy}" in log
    assert log.count("test accuracy") == 1 and "<stdout>" not in log  # rank 0 reports; srun, not horovodrun
    if strategy == "horovod":
        assert "Horovod rendezvous at 10.77.0.11:" in log and "ranks talk over eth0" in log


def test_sweep_array_runs_each_grid_point(slurm, job_env, tmp_path):
    job = submit("sweep.sbatch", job_env, tmp_path, "--array=0-2")
    assert wait(job) == ["COMPLETED"] * 3, outputs(tmp_path)[-4000:]
    results = [json.loads(p.read_text()) for p in (tmp_path / "logs").rglob("result.json")]
    assert sorted(r["batch_size"] for r in results) == [32, 64, 128]
    assert len({r["run_dir"] for r in results}) == 3  # one run directory per array task


def test_gpu_request_on_a_node_without_gpus_is_refused(slurm, job_env, tmp_path):
    env = {**job_env, "WORKBENCH_GPU_FLAG": "--gpus-per-task"}
    done = subprocess.run([str(ROOT / "slurm" / "submit"), str(ROOT / "slurm" / "one_gpu.sbatch")],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and "gres" in done.stderr.lower()


def test_job_at_its_time_limit_checkpoints_requeues_and_ends_like_an_uninterrupted_run(
        slurm, job_env, tmp_path):
    env = {**job_env, "WORKBENCH_QUICK": "0", "LAB": "01_mnist_dense"}
    # SLURM sends the signal N s before the limit plus up to ~30 s of polling jitter (FACTS.md):
    # with a 1-minute limit and N=15 it comes about 15-45 s into each incarnation (N=10 once came
    # too late to requeue before the limit: a CI run ended TIMEOUT). 20 full-MNIST epochs
    # (3-5 s each, plus ~10 s start-up) outlast 45 s, so the first incarnation is always cut short,
    # and each one still finishes a few epochs, so the job always makes progress.
    lab_args = ["--epochs", "20", "--deterministic"]
    command = [sys.executable, str(ROOT / "labs" / "01_mnist_dense.py"), *lab_args,
               "--log-dir", str(tmp_path / "straight"), "--dump-weights", str(tmp_path / "a")]
    straight = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-3000:]
    job = submit("one_gpu.sbatch", env, tmp_path, "--time=1", "--signal=B:USR1@15",
                 lab_args=[*lab_args, "--dump-weights", str(tmp_path / "b")])
    assert wait(job, timeout=900) == ["COMPLETED"], outputs(tmp_path)[-4000:]
    log = outputs(tmp_path)
    assert "time limit near: checkpointing, then requeue" in log and "resuming after epoch" in log
    a, b = np.load(tmp_path / "a" / "rank0.npz"), np.load(tmp_path / "b" / "rank0.npz")
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a.files) == 0.0


@pytest.mark.parametrize("script", ["horovod.sbatch", "multiworker.sbatch"])
def test_multi_rank_job_signalled_stops_requeues_and_resumes(two_nodes, job_env, tmp_path, script):
    """The time-limit signal, sent by hand once an epoch is done (``scancel --batch --signal``
    is what ``--signal=B:USR1`` does): srun passes it on, every rank stops at the same step, the
    job requeues itself, and the next incarnation resumes and ends with identical weights."""
    horovod_missing = subprocess.run([sys.executable, "-c", "import horovod.tensorflow"]).returncode
    if script == "horovod.sbatch" and horovod_missing:
        pytest.fail("Horovod is not built: scripts/build_horovod.sh")
    job = submit(script, {**job_env, "WORKBENCH_PARTITION": "twonode"}, tmp_path,
                 lab_args=["--epochs", "6", "--dump-weights", str(tmp_path / "w")])
    deadline = time.time() + 300
    while not list((tmp_path / "logs").rglob("backup/state.npz")) and time.time() < deadline:
        time.sleep(0.5)
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True)
    assert wait(job) == ["COMPLETED"], outputs(tmp_path)[-4000:]
    log = outputs(tmp_path)
    assert "time limit near: checkpointing, then requeue" in log
    stopped_after = re.search(r"stopped by SIGUSR1 after epoch (\d+)", log)
    assert stopped_after and int(stopped_after.group(1)) < 6, log[-4000:]  # cut short, not run out
    assert f"resuming after epoch {stopped_after.group(1)}" in log
    assert max_difference(tmp_path / "w") == 0.0


def test_jupyter_job_prints_a_working_tunnel_line_and_keeps_its_token_private(slurm, job_env, tmp_path):
    """The Jupyter job prints the ssh line; its login token goes to a mode-0600 file, never the .out;
    the server answers through the tunnel with that token and refuses without it."""
    import urllib.error
    import urllib.request

    home = tmp_path / "home"
    job = submit("jupyter.sbatch", {**job_env, "HOME": str(home)}, tmp_path)
    try:
        port, host = wait_for_tunnel_line(job, tmp_path, lambda: outputs(tmp_path))
        addresses = home / ".workbench" / f"jupyter-{job}.txt"
        assert f"then open the address in {addresses}" in outputs(tmp_path)
        assert addresses.stat().st_mode & 0o777 == 0o600
        opened = re.fullmatch(rf"http://localhost:{port}/lab\?token=([\w-]+)\n", addresses.read_text())
        assert opened, addresses.read_text()
        token = opened.group(1)

        def status(path: str, headers: dict) -> int | None:
            # Through the tunnel the browser asks for localhost:PORT; the Host header says so.
            request = urllib.request.Request(f"http://{host}:{port}{path}",
                                             headers={"Host": f"localhost:{port}", **headers})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status
            except urllib.error.HTTPError as refused:
                return refused.code
            except OSError:
                return None  # not up yet

        deadline = time.time() + 180
        while status("/api", {}) is None and time.time() < deadline and job_states(job) == ["RUNNING"]:
            time.sleep(1)
        assert status("/api/status", {}) == 403, outputs(tmp_path)[-3000:]
        assert status("/api/status", {"Authorization": f"token {token}"}) == 200
        assert token not in outputs(tmp_path)  # Jupyter's own log shows "?token=..."
    finally:
        subprocess.run(["scancel", job])
    assert wait(job, timeout=120) == ["CANCELLED"]


def test_tensorboard_job_writes_its_secret_addresses_to_a_private_file_and_serves_only_with_the_token(
        slurm, job_env, tmp_path):
    """The job's .out (often readable by others) names a mode-0600 file instead of the addresses;
    through the tunnel that file describes, TensorBoard refuses a request without the token and
    serves one with it."""
    import urllib.error
    import urllib.request

    home = tmp_path / "home"
    job = submit("tensorboard.sbatch", {**job_env, "LOGDIR": str(tmp_path), "HOME": str(home)}, tmp_path)
    try:
        named = None
        deadline = time.time() + 60
        while named is None and time.time() < deadline and job_states(job) in (["PENDING"], ["RUNNING"]):
            named = re.search(r"^ +cat (\S+)$", outputs(tmp_path), re.MULTILINE)
            time.sleep(1)
        assert named, outputs(tmp_path)[-3000:]
        addresses = Path(named.group(1))
        assert addresses.parent == home / ".workbench"
        port, host = wait_for_tunnel_line(job, tmp_path, addresses.read_text)
        text = addresses.read_text()
        assert addresses.stat().st_mode & 0o777 == 0o600
        assert (home / ".workbench").stat().st_mode & 0o777 == 0o700
        opened = re.search(rf"then open http://localhost:{port}/\?token=([\w-]+)$", text, re.MULTILINE)
        assert opened, text
        token = opened.group(1)
        assert token not in outputs(tmp_path)

        def status(headers: dict) -> int:
            # Through the tunnel the browser asks for localhost:PORT; the Host header says so.
            request = urllib.request.Request(f"http://{host}:{port}/data/logdir",
                                             headers={"Host": f"localhost:{port}", **headers})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert str(tmp_path) in response.read().decode()
                    return response.status
            except urllib.error.HTTPError as refused:
                return refused.code

        assert status({}) == 403
        assert status({"Authorization": "token not-the-token"}) == 403
        assert status({"Authorization": f"token {token}"}) == 200
    finally:
        subprocess.run(["scancel", job])
    assert wait(job, timeout=120) == ["CANCELLED"]


def wait_for_tunnel_line(job: str, tmp_path, read, timeout: float = 180) -> tuple[str, str]:
    """(port, host) from the first ``ssh -N -L PORT:HOST:PORT user@login`` line ``read()`` shows,
    waiting while the job is pending or running."""
    deadline, tunnel = time.time() + timeout, None
    while tunnel is None and time.time() < deadline and job_states(job) in (["PENDING"], ["RUNNING"]):
        tunnel = re.search(r"ssh -N -L (\d+):([\w.-]+):(\d+) \S+@\S+", read())
        time.sleep(1)
    assert tunnel, outputs(tmp_path)[-3000:]
    assert tunnel.group(1) == tunnel.group(3)
    return tunnel.group(1), tunnel.group(2)


def test_grading_a_class_as_a_job_array_merges_one_gradebook(slurm, job_env, tmp_path):
    from .test_grading import submit_tiny, tiny_lab

    tiny_lab(tmp_path)
    for participant in ("alice", "bob", "carol"):
        submit_tiny(tmp_path, participant, answer="answer = 41" if participant == "bob" else "answer = 42")
    env = {**job_env, "SOLUTIONS": str(tmp_path / "solutions"), "GRADEBOOK": str(tmp_path / "gradebook.csv")}
    done = subprocess.run([str(ROOT / "slurm" / "grade"), str(tmp_path / "submissions"), "98", "2"],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    array, merge = re.search(r"job array (\d+) .*gradebook job (\d+)", done.stdout).groups()
    assert wait(array) == ["COMPLETED"] * 2, outputs(tmp_path)[-4000:]
    assert wait(merge) == ["COMPLETED"], outputs(tmp_path)[-4000:]
    lines = (tmp_path / "gradebook.csv").read_text().splitlines()
    totals = {line.split(",")[0]: line.split(",")[-3] for line in lines[1:]}
    assert totals == {"alice": "3", "bob": "2", "carol": "3"}
    assert "task 0 of 2" in outputs(tmp_path) and "task 1 of 2" in outputs(tmp_path)
