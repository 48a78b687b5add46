"""The benchmark runs at its tiny size and writes its table (the numbers live in bench/RESULTS.md)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_benchmark_appends_a_dated_section_with_every_table(real_data, tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# earlier results\n")
    env = {**os.environ, "WORKBENCH_DATA": str(real_data)}
    done = subprocess.run([sys.executable, "bench/run.py", "--tiny", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# earlier results\n")  # appended, nothing lost
    assert re.search(r"## Benchmark \d{4}-\d\d-\d\d \(--tiny\)", text)
    assert re.search(r"Commit [0-9a-f]{7,}", text) and "usable cores" in text
    assert re.search(r"\| `workbench --help` \| \d+\.\d\d s \| no \|", text)
    assert re.search(r"\| `workbench data verify` \| \d+\.\d\d s \| no \|", text)
    for side in ("listing", "workbench \\(default\\)", "workbench --fast"):
        assert re.search(rf"\| {side} \(pair 1\) \| 2 \| \d+\.\d\d \| 0\.\d{{4}} \| ", text), text
    for side in ("workbench \\(default\\)", "workbench --fast"):
        assert re.search(rf"- {side} / listing: epoch time \*\*\d+\.\d{{3}}\*\*", text), text
    lab_row = r"\| 01_mnist_dense \(mnist_dense\) \| 1,000 \| [\d,]+ \| [\d,]+ \| accuracy 0\.\d{4} after 2"
    assert re.search(lab_row, text), text
    assert re.search(r"\| horovod \| default \| \d+\.\d\d \| \d+\.\d\d \| \d+% \|", text), text
    assert "![time to accuracy](time_to_accuracy-tiny.png)" in text
    assert (tmp_path / "time_to_accuracy-tiny.png").read_bytes().startswith(b"\x89PNG")


def test_history_records_each_epochs_seconds(tmp_path):
    """What the benchmark reads from a lab's run: every epoch's wall time in history.csv."""
    import keras
    import numpy as np

    from workbench import training

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.zeros((64, 3)), np.zeros(64), epochs=2, verbose=0,
              validation_data=(np.zeros((8, 3)), np.zeros(8)),
              callbacks=training.callbacks(tmp_path, checkpoint=False))
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(float(r["epoch_seconds"]) > 0 for r in rows)
