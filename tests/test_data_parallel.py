"""Data parallelism proven right on the lab's own code, for mirrored, multi-worker and Horovod.

``tests/parallel_probe.py`` runs once in one process, once as MirroredStrategy over two logical
CPUs, once as two multi-worker workers and once as two Horovod ranks (local processes here; the
same job scripts across two SLURM nodes are in test_slurm.py). It proves:

* sharding: over one epoch the ranks' batches are disjoint and together are the whole training
  set; every rank takes the same number of steps, the number the chief's log prints;
* equivalence: from the same initial weights, one step on 2 ranks x 32 samples equals one step of
  one process on the same 64 samples (float tolerance), for SGD and Adam, a compiled loss, an
  ``add_loss`` term and the VAE's own ``train_step``: gradients are averaged, not summed, and each
  replica's loss is scaled by 1 / replicas;
* controls that must fail: Horovod summing instead of averaging; the VAE's ``train_step`` without
  its division by the number of replicas (multi-worker, mirrored). They use SGD: Adam's step does
  not change when every gradient is scaled by the same factor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from workbench.board import free_ports

from .conftest import ROOT
from .test_distributed import VENV_BIN, horovod_available

PROBE = str(ROOT / "tests" / "parallel_probe.py")
CASES = ("dense_sgd", "dense_adam", "sparse_sgd", "vae")
CONTROLS = {"multiworker": "vae_unscaled", "mirrored": "vae_unscaled", "horovod": "dense_sum"}


def weights(folder, case, rank=0) -> list[np.ndarray]:
    with np.load(folder / f"{case}-rank{rank}.npz") as saved:
        return [saved[key] for key in saved.files]


def difference(first, second) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(first, second, strict=True))


@pytest.fixture(scope="module")
def probes(real_data, tmp_path_factory):
    """Every way of running the probe, once: {name: (output folder, printed output)}."""
    root = tmp_path_factory.mktemp("probes")
    env = {**os.environ, "WORKBENCH_DATA": str(real_data), "WORKBENCH_QUICK": "1"}
    runs = {}

    def finish(name, processes):
        outputs = [p.communicate(timeout=600)[0] for p in processes]
        failed = [p.returncode for p in processes] != [0] * len(processes)
        assert not failed, "\n".join(o[-3000:] for o in outputs)
        runs[name] = (root / name, "\n".join(outputs))

    def launch(command, **extra):
        return subprocess.Popen(command, env={**env, **extra}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=root)

    finish("single", [launch([sys.executable, PROBE, "default", str(root / "single")])])
    finish("mirrored", [launch([sys.executable, PROBE, "mirrored", str(root / "mirrored"), "2"])])
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    finish("multiworker", [launch([sys.executable, PROBE, "multiworker", str(root / "multiworker")],
                                  TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                        "task": {"type": "worker", "index": index}}))
                           for index in range(2)])
    if horovod_available():
        finish("horovod", [launch([os.path.join(VENV_BIN, "horovodrun"), "-np", "2", "-H", "localhost:2",
                                   "--gloo", sys.executable, PROBE, "horovod", str(root / "horovod")])])
    elif os.environ.get("CI"):
        pytest.fail("Horovod is not built: scripts/build_horovod.sh")
    return runs


def need(probes, strategy):
    if strategy not in probes:
        pytest.skip("Horovod not built (scripts/build_horovod.sh)")
    return probes[strategy]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["multiworker", "horovod"])
def test_shards_are_disjoint_cover_the_epoch_and_take_the_logged_steps(probes, strategy):
    folder, output = need(probes, strategy)
    shards = [json.loads((folder / f"shard-rank{rank}.json").read_text()) for rank in (0, 1)]
    samples = [[i for batch in shard for i in batch] for shard in shards]
    assert set(samples[0]).isdisjoint(samples[1])
    assert sorted(samples[0] + samples[1]) == list(range(1000))  # every sample once per epoch
    assert len(shards[0]) == len(shards[1]) == 16  # 500 samples each, batches of 32
    progress = r"^(?:\[\d\]<stdout>:)?(\d+)/\1 "  # Keras' "16/16 - 1s ..." (Horovod runs fit)
    logged = re.findall(r"Epoch 1/1 - (\d+) steps", output) + re.findall(progress, output, re.MULTILINE)
    assert logged == ["16"], output[-3000:]  # the chief's log says so, and only the chief logs


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["multiworker", "horovod"])
def test_raw_text_shards_like_images_and_every_rank_learns_the_same_vocabulary(probes, strategy):
    folder, _ = need(probes, strategy)
    ranks = [json.loads((folder / f"text-rank{rank}.json").read_text()) for rank in (0, 1)]
    samples = [[i for batch in r["read"] for i in batch] for r in ranks]
    assert set(samples[0]).isdisjoint(samples[1]) and sorted(samples[0] + samples[1]) == list(range(1000))
    assert len(ranks[0]["read"]) == len(ranks[1]["read"]) == 16
    assert all(r["tokens_match"] for r in ranks)  # each review's own tokens travel with it
    assert ranks[0]["vocabulary_digest"] == ranks[1]["vocabulary_digest"]  # the same ids everywhere
    assert ranks[0]["vocabulary_size"] == 2000


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("strategy", ["mirrored", "multiworker", "horovod"])
def test_one_step_on_two_ranks_equals_one_step_on_the_whole_batch(probes, strategy, case):
    folder, _ = need(probes, strategy)
    single, split = weights(probes["single"][0], case), weights(folder, case)
    if strategy != "mirrored":
        assert difference(split, weights(folder, case, rank=1)) == 0.0  # the ranks agree exactly
    moved = difference(single, _initial(case))
    # Measured: differences of 1e-8 to 1e-6 where the step moved the weights by 4e-4 to 5e-2.
    assert difference(single, split) < 1e-3 * moved, (difference(single, split), moved)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["mirrored", "multiworker", "horovod"])
def test_control_without_averaging_differs_from_one_process(probes, strategy):
    folder, _ = need(probes, strategy)
    case = CONTROLS[strategy]
    single, split = weights(probes["single"][0], case), weights(folder, case)
    moved = difference(single, _initial(case))
    # Measured: off by the whole step (summing doubles it; an unscaled VAE loss too).
    assert difference(single, split) > 0.1 * moved, (difference(single, split), moved)


def _initial(case) -> list[np.ndarray]:
    """The weights every run starts from (seed 0), to measure how far one step moved them."""
    from workbench import models, training, vae

    training.seed_everything(0)
    if case.startswith("vae"):
        model = vae.VAE(vae.encoder(), vae.decoder())
        model.build((None, 28, 28, 1))
    else:
        model = models.build("ae_sparse" if case.startswith("sparse") else "mnist_dense")
    return [np.asarray(w) for w in model.get_weights()]
