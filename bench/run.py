"""The benchmark, one command: start-up times and lab 02 against lecture 003's listing as written.

    WORKBENCH_DATA=../shared/data python bench/run.py              # the full run (about 8 min, 2 cores)
    WORKBENCH_DATA=../shared/data python bench/run.py --tiny --out /tmp/bench.md   # seconds: the test's size

Appends one dated section to ``--out`` (default ``bench/RESULTS.md``): the machine, the versions
and the commit, then the tables. Whole processes are timed, one after another, alternating the
two sides of a comparison so that a slow minute of the machine hits both; ratios are medians over
the pairs. Tests never assert on these numbers (tests/test_bench.py only runs ``--tiny``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TARGET = 0.985  # lecture 003's listing first reaches it around epoch 4


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{model}, {len(os.sched_getaffinity(0))} usable cores"


def versions() -> str:
    from importlib import metadata

    found = []
    for package in ("tensorflow-cpu", "tensorflow", "keras"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return (done.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def wall(command: list[str], repeats: int) -> float:
    """Median wall time of a whole command."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def imports_tensorflow(argv: list[str]) -> bool:
    probe = (f"import sys\nfrom workbench.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n"
             "    pass\nprint('tensorflow' in sys.modules)")
    done = subprocess.run([PYTHON, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1] == "True"


def startup(repeats: int) -> list[str]:
    workbench = str(Path(PYTHON).parent / "workbench")
    rows = ["| command | median wall time | imports TensorFlow | goal |", "|---|---|---|---|"]
    for argv, goal in ((["--help"], "< 0.2 s"), (["data", "verify"], "< 1 s")):
        seconds = wall([workbench, *argv], repeats)
        rows.append(f"| `workbench {' '.join(argv)}` | {seconds:.2f} s | "
                    f"{'yes' if imports_tensorflow(argv) else 'no'} | {goal} |")
    return rows


def run_listing(epochs: int, samples: int, logs: Path) -> list[dict]:
    report = logs / f"listing-{time.time_ns()}.jsonl"
    subprocess.run([PYTHON, "bench/listing_003.py", "--epochs", str(epochs), "--train-samples", str(samples),
                    "--report", str(report)], cwd=ROOT, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in report.read_text().splitlines()]


def run_lab02(epochs: int, samples: int, logs: Path, extra: list[str]) -> list[dict]:
    name = f"bench-{time.time_ns()}"
    command = [PYTHON, "labs/02_mnist_cnn.py", "--epochs", str(epochs), "--log-dir", str(logs),
               "--run-name", name, *extra]
    if samples < 60000:
        command += ["--train-samples", str(samples)]
    subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    history = next(logs.rglob(f"{name}/history.csv"))
    with history.open() as rows:
        return [{"epoch": int(row["epoch"]) + 1, "epoch_seconds": float(row["epoch_seconds"]),
                 "val_accuracy": float(row["val_accuracy"])} for row in csv.DictReader(rows)]


def warm_epoch_seconds(epochs: list[dict]) -> float:
    """Mean seconds of the epochs after the first (the first also traces and compiles)."""
    warm = epochs[1:] or epochs
    return statistics.mean(e["epoch_seconds"] for e in warm)


def time_to(epochs: list[dict], target: float) -> float | None:
    spent = 0.0
    for epoch in epochs:
        spent += epoch["epoch_seconds"]
        if epoch["val_accuracy"] >= target:
            return spent
    return None


def listing_against_lab02(epochs: int, samples: int, pairs: int) -> list[str]:
    rows = ["| run | warm epoch (s) | test accuracy after the last epoch | training time to 98.5 % |",
            "|---|---|---|---|"]
    ratios, times = [], {"listing": [], "workbench": []}
    with tempfile.TemporaryDirectory() as logs:
        for pair in range(pairs):
            listing = run_listing(epochs, samples, Path(logs))
            ours = run_lab02(epochs, samples, Path(logs), [])
            ratios.append(warm_epoch_seconds(ours) / warm_epoch_seconds(listing))
            for side, result in (("listing", listing), ("workbench", ours)):
                reached = time_to(result, TARGET)
                times[side].append(reached)
                rows.append(f"| {side} (pair {pair + 1}) | {warm_epoch_seconds(result):.2f} | "
                            f"{result[-1]['val_accuracy']:.4f} | "
                            f"{'not reached' if reached is None else f'{reached:.1f} s'} |")
    rows.append("")
    rows.append(f"Median epoch-time ratio, workbench / listing: **{statistics.median(ratios):.3f}** "
                f"over {pairs} pair(s) (goal ≤ 0.5).")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--tiny", action="store_true", help="2,000 images, 2 epochs, 1 pair: seconds")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    if not os.environ.get("WORKBENCH_DATA"):
        parser.error("set WORKBENCH_DATA to the staged datasets (e.g. ../shared/data)")
    epochs, samples, pairs, repeats = (2, 2000, 1, 1) if args.tiny else (args.epochs, 60000, args.pairs, 5)
    section = [f"## Benchmark {datetime.date.today().isoformat()}{' (--tiny)' if args.tiny else ''}", "",
               f"Machine: {machine()}. {versions()}. Commit {commit()}. Command: "
               f"`python bench/run.py{' --tiny' if args.tiny else ''}`.", "",
               "### Start-up", "", *startup(repeats), "",
               f"### Lab 02 against lecture 003's listing as written ({samples:,} images, {epochs} epochs, "
               "batch 32, SGD 0.01 momentum 0.9)", "", *listing_against_lab02(epochs, samples, pairs), ""]
    text = "\n".join(section) + "\n"
    with args.out.open("a") as out:
        out.write("\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
