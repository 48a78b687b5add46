"""A real TensorBoard over logs the labs wrote: scalars, graph, histograms, images, HParams, profile.

The module runs the lecture's 8-point HParams sweep once (quick mode, real Fashion-MNIST, each
point profiling a few steps), starts ``workbench.board`` on loopback over it and asks the same
HTTP endpoints the dashboards use. A headless Chromium screenshot of the HParams table is saved
under ``test-output/`` (a CI artifact). Every server started here is stopped here.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from workbench import board as boards
from workbench import sweep

from .conftest import ROOT

pytestmark = pytest.mark.slow
SWEEP_FILE = ROOT / "sweeps" / "06_hparams.toml"
OUTPUT = ROOT / "test-output"


@pytest.fixture(scope="module")
def sweep_dir(real_data, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    env = {**os.environ, "WORKBENCH_DATA": str(real_data), "WORKBENCH_QUICK": "1"}
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "sweep", "run", str(SWEEP_FILE),
                           "--run-name", "lecture", "--", "--log-dir", str(logs), "--profile-steps", "2,4"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = list(logs.glob("*/sweep-06_hparams/lecture"))
    assert len(found) == 1, done.stdout[-2000:]
    return found[0]


@pytest.fixture(scope="module")
def tensorboard(sweep_dir):
    with boards.start(sweep_dir) as running:
        yield running
    assert running.process.poll() is not None  # stopped


def get(board, path: str, body: dict | None = None):
    request = urllib.request.Request(f"{board.url.rstrip('/')}{path}",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "text/plain", "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
    return json.loads(raw)


def test_the_sweep_wrote_every_point_and_the_summary_table_ranks_them(sweep_dir):
    rows = sweep.best(sweep_dir)
    assert len(rows) == 8
    assert {(r["num_units"], r["dropout"], r["optimizer"]) for r in rows} == {
        (u, d, o) for u in (16, 32) for d in (0.1, 0.2) for o in ("sgd", "adam")}
    accuracies = [r["test_accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True) and accuracies[-1] > 0.3
    table = sweep.markdown(rows)
    assert table.splitlines()[0] == "| dropout | num_units | optimizer | test_accuracy | seconds |"


def test_board_binds_loopback_and_says_how_to_reach_it(tensorboard, monkeypatch):
    assert tensorboard.host == "127.0.0.1"
    monkeypatch.setenv("WORKBENCH_LOGIN_HOST", "login.example.org")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    text = tensorboard.instructions()
    port = tensorboard.port
    assert f"ssh -N -L {port}:localhost:{port}" in text and "@login.example.org" in text
    assert f"In JupyterLab: /user/alice/proxy/{port}/" in text
    monkeypatch.setenv("TENSORBOARD_PROXY_URL", "/hub/user/bob/proxy/%PORT%/")
    assert boards.proxy_url(port) == f"/hub/user/bob/proxy/{port}/"
    assert boards.tunnel_line(6006, "gpu12", {"USER": "a", "SLURM_SUBMIT_HOST": "login1"}) == \
        "ssh -N -L 6006:gpu12:6006 a@login1"


def test_scalars_graph_histograms_and_images_are_served(tensorboard):
    scalars = get(tensorboard, "/data/plugin/scalars/tags")
    train_runs = [run for run in scalars if run.endswith("/tensorboard/train")]
    assert len(train_runs) == 8
    assert {"epoch_loss", "epoch_accuracy"} <= set(scalars[train_runs[0]])
    assert sum(run.endswith("/tensorboard/validation") for run in scalars) == 8
    assert all("test_accuracy" in scalars[run] for run in scalars if run.endswith("/tensorboard"))
    points = get(tensorboard, f"/data/plugin/scalars/scalars?run={urllib.request.quote(train_runs[0])}"
                              "&tag=epoch_loss")
    assert len(points) == 1 and np.isfinite(points[0][2])  # one epoch: (wall time, step, value)
    assert any(get(tensorboard, "/data/plugin/histograms/tags").get(run) for run in train_runs)
    graphs = get(tensorboard, "/data/plugin/graphs/info")
    for run in train_runs:  # the traced op graph and Keras' conceptual graph
        assert graphs[run]["tags"]["forward_pass"]["op_graph"]
        assert graphs[run]["tags"]["keras"]["conceptual_graph"]
    images = get(tensorboard, "/data/plugin/images/tags")
    assert sum(run.endswith("/tensorboard/images") for run in images) == 8


def test_hparams_lists_all_eight_combinations_with_metrics(tensorboard):
    experiment = get(tensorboard, "/data/plugin/hparams/experiment",
                     {"experimentName": "", "hparamsLimit": 1000})
    names = sorted(info["name"] for info in experiment["hparamInfos"])
    assert names == ["dropout", "num_units", "optimizer"]
    metric_tags = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"test_accuracy", "epoch_accuracy"} <= metric_tags
    groups = get(tensorboard, "/data/plugin/hparams/session_groups", {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"hparam": name, "includeInResult": True} for name in names]
        + [{"metric": {"tag": "test_accuracy", "group": ""}, "includeInResult": True}],
        "startIndex": 0, "sliceSize": 100})
    assert groups["totalSize"] == 8
    combos = {(g["hparams"]["num_units"], g["hparams"]["dropout"], g["hparams"]["optimizer"])
              for g in groups["sessionGroups"]}
    assert combos == {(u, d, o) for u in (16.0, 32.0) for d in (0.1, 0.2) for o in ("sgd", "adam")}
    for group in groups["sessionGroups"]:
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert 0.0 < values["test_accuracy"] <= 1.0


def test_profile_plugin_lists_the_captured_runs(tensorboard):
    runs = get(tensorboard, "/data/plugin/profile/runs")
    assert sum("/tensorboard" in run for run in runs) >= 8, runs
    tools = get(tensorboard, f"/data/plugin/profile/run_tools?run={urllib.request.quote(runs[0])}")
    assert tools, runs[0]


def test_headless_chromium_screenshot_of_the_hparams_table(tensorboard):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `./workshop test` installs it (apt)")
        pytest.skip("no chromium here")
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "hparams_table.png"
    shot.unlink(missing_ok=True)
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1600,1000", "--virtual-time-budget=20000",
                           f"--screenshot={shot}", f"{tensorboard.url}#hparams"],
                          capture_output=True, text=True, timeout=180)
    assert shot.is_file(), done.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1000, 1600)
    assert pixels[..., :3].std() > 0.05  # a drawn table, not a blank page
