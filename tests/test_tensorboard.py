"""A real TensorBoard over logs the labs wrote: scalars, graph, histograms, images, HParams, profile.

The module runs the lecture's 8-point HParams sweep once (quick mode, real Fashion-MNIST, each
point profiling a few steps), starts ``workbench.board`` on loopback over it and asks the same
HTTP endpoints the dashboards use, with the launch's token (tests/test_board.py tests the token).
A headless Chromium screenshot of the HParams table is saved under ``test-output/`` (a CI
artifact). Every server started here is stopped here.
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
# One epoch on quick mode's 5,000 Fashion-MNIST images, tested on its 1,000: the worst point
# (16 units, dropout 0.2, sgd) measured 0.521; chance, and an untrained model, score 0.10.
QUICK_FLOOR = 0.4


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
                                     headers={"Content-Type": "text/plain", "Accept-Encoding": "gzip",
                                              **board.authorization})
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
    assert accuracies == sorted(accuracies, reverse=True) and accuracies[-1] >= QUICK_FLOOR, rows
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
    groups = session_groups(tensorboard)
    assert len(groups) == 8
    combos = {(g["hparams"]["num_units"], g["hparams"]["dropout"], g["hparams"]["optimizer"]) for g in groups}
    assert combos == {(u, d, o) for u in (16.0, 32.0) for d in (0.1, 0.2) for o in ("sgd", "adam")}
    for group in groups:
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert values["test_accuracy"] >= QUICK_FLOOR, values


def test_profile_plugin_lists_the_captured_runs(tensorboard):
    runs = get(tensorboard, "/data/plugin/profile/runs")
    assert sum("/tensorboard" in run for run in runs) >= 8, runs
    tools = get(tensorboard, f"/data/plugin/profile/run_tools?run={urllib.request.quote(runs[0])}")
    assert tools, runs[0]


def session_groups(board) -> list[dict]:
    """The HParams plugin's session groups, as its table asks for them."""
    experiment = get(board, "/data/plugin/hparams/experiment", {"experimentName": "", "hparamsLimit": 1000})
    names = sorted(info["name"] for info in experiment["hparamInfos"])
    return get(board, "/data/plugin/hparams/session_groups", {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"hparam": name, "includeInResult": True} for name in names]
        + [{"metric": {"tag": "test_accuracy", "group": ""}, "includeInResult": True}],
        "startIndex": 0, "sliceSize": 100})["sessionGroups"]


def shown_hparams_table(board, browser: str, shot, row_names) -> tuple[list[str], list[list[str]]]:
    """The HParams table as the dashboard draws it: its column names and the values shown in each
    row, a row starting at one of ``row_names`` (the session groups' names); Playwright's locators
    reach into the dashboard's shadow DOM. A screenshot is saved on the way."""
    import time

    from playwright.sync_api import sync_playwright

    row_names = set(row_names)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{board.url_with_token}#hparams")
            cells = page.locator("vaadin-grid-cell-content")
            deadline = time.time() + 90
            texts: list[str] = []
            while time.time() < deadline:  # rows arrive after the page: poll until all are drawn
                texts = [text.strip() for text in cells.all_inner_texts()]
                if sum(text in row_names for text in texts) >= len(row_names):
                    break
                page.wait_for_timeout(500)
            page.screenshot(path=str(shot))
        finally:
            chromium.close()
    first_row = next((i for i, text in enumerate(texts) if text in row_names), len(texts))
    columns = [text for text in texts[:first_row] if text and text not in ("Trial ID", "Show Metrics")]
    rows, current = [], None
    for text in texts[first_row:]:
        if text in row_names:
            current = []
            rows.append(current)
        elif text and current is not None:
            current.append(text)
    return columns, rows


def test_a_browser_shows_the_hparams_table_with_every_point_and_its_test_accuracy(tensorboard, sweep_dir):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `./workshop test` installs it (apt)")
        pytest.skip("no chromium here")
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "hparams_table.png"
    shot.unlink(missing_ok=True)
    columns, rows = shown_hparams_table(tensorboard, browser, shot,
                                        [group["name"] for group in session_groups(tensorboard)])
    assert shot.is_file()
    assert columns[:3] == ["dropout", "num_units", "optimizer"] and "test accuracy" in columns, columns
    assert len(rows) == 8, rows
    shown = {}
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        point = (int(float(values["num_units"])), float(values["dropout"]), values["optimizer"])
        shown[point] = float(values["test accuracy"])
    # The same eight points with the same test accuracy (the page shows 5 decimals) as the runs'
    # own result files.
    measured = {(r["num_units"], r["dropout"], r["optimizer"]): r["test_accuracy"]
                for r in sweep.best(sweep_dir)}
    assert set(shown) == set(measured)
    for point, value in shown.items():
        assert value == pytest.approx(measured[point], abs=1e-5), point
