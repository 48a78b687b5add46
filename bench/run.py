"""The benchmark, one command: start-up, lab 02 against lecture 003's listing, every lab, scaling.

    WORKBENCH_DATA=../shared/data python bench/run.py              # the full run (about 25 min, 2 cores)
    WORKBENCH_DATA=../shared/data python bench/run.py --tiny --out /tmp/bench.md   # the test's size

Appends one dated section to ``--out`` (default ``bench/RESULTS.md``): the machine, the versions
and the commit, then the tables:

* start-up of ``workbench --help`` and ``workbench data verify`` (neither may import TensorFlow);
* lab 02 against lecture 003's listing as written, in pairs, each pair one run of every side:
  the listing, the lab with one step per graph call (the old default), the lab as it runs by
  default, the lab with ``--precision auto`` and the lab's ``--fast`` recipe; medians of the ratios;
* every lab's batch script for a few epochs: samples per second, peak memory, its figure;
* weak scaling: 1 and 2 ranks of Horovod and of multi-worker, each rank pinned to one core and
  given the same samples, with and without one step per call (the per-step stop vote).

Whole processes are timed, one after another, alternating the sides of a comparison so that a
slow minute of the machine hits all of them. Tests never assert on these numbers
(tests/test_bench.py only runs ``--tiny``, which runs each kind of row once at a small size).
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


def run_lab(lab: str, epochs: int | None, samples: int | None, logs: Path, extra: list[str],
            launcher: list[str] | None = None, env: dict | None = None) -> tuple[list[dict], dict, float]:
    """Run ``labs/LAB.py`` (under ``launcher``, e.g. horovodrun); return its epochs (seconds and
    validation figures from history.csv), its result.json and the peak resident memory in MB of
    the process (with everything it waited for: the ranks under a launcher)."""
    name = f"bench-{time.time_ns()}"
    command = [*(launcher or [PYTHON]), f"labs/{lab}.py", "--log-dir", str(logs), "--run-name", name, *extra]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    if samples is not None:
        command += ["--train-samples", str(samples)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, text=True)
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    history = next(logs.rglob(f"{name}/history.csv"))
    with history.open() as rows:
        epochs_seen = [{"epoch": int(row["epoch"]) + 1, "epoch_seconds": float(row["epoch_seconds"]),
                        **{key: float(value) for key, value in row.items() if key.startswith("val_")}}
                       for row in csv.DictReader(rows)]
    result = json.loads((history.parent / "result.json").read_text())
    return epochs_seen, result, usage.ru_maxrss / 1024


def run_lab02(epochs: int | None, samples: int, logs: Path, extra: list[str]) -> list[dict]:
    return run_lab("02_mnist_cnn", epochs, samples if samples < 60000 else None, logs, extra)[0]


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


# The sides of the lab 02 comparison: name -> the lab's extra flags (None: the listing itself).
SIDES = {
    "listing": None,
    "workbench, 1 step per call": ["--steps-per-execution", "1"],
    "workbench (default)": [],
    "workbench, --precision auto": ["--precision", "auto"],
    "workbench --fast": ["--fast"],
}
TINY_SIDES = ("listing", "workbench (default)", "workbench --fast")


def plot_time_to_accuracy(results: dict[str, list[list[dict]]], path: Path) -> None:
    """Test accuracy after each epoch against the training seconds spent, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (side, runs) in zip(colours, results.items(), strict=False):
        for number, run in enumerate(runs):
            seconds = [sum(e["epoch_seconds"] for e in run[:i + 1]) for i in range(len(run))]
            axis.plot(seconds, [e["val_accuracy"] for e in run], "o-", color=colour, alpha=0.8,
                      label=side if number == 0 else None)
    axis.axhline(TARGET, color="grey", linestyle="--", linewidth=1, label="98.5 %")
    axis.set_xlabel("training seconds (validation included)")
    axis.set_ylabel("test accuracy after the epoch")
    axis.set_ylim(max(0.9, axis.get_ylim()[0]), 1.0)
    axis.set_title("Lab 02's CNN on MNIST: lecture 003's listing and the workbench")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def listing_against_lab02(epochs: int, samples: int, pairs: int, sides=tuple(SIDES),
                          plot: Path | None = None) -> list[str]:
    """Every side once per pair, in turn; the fast recipe trains its own number of epochs."""
    rows = ["| run | epochs | warm epoch (s) | test accuracy after the last epoch | "
            "training time to 98.5 % |", "|---|---|---|---|---|"]
    results: dict[str, list[list[dict]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as logs:
        for pair in range(pairs):
            for side in sides:
                flags = SIDES[side]
                if flags is None:
                    result = run_listing(epochs, samples, Path(logs))
                else:
                    own_epochs = "--fast" in flags and samples == 60000  # the recipe's
                    result = run_lab02(None if own_epochs else epochs, samples, Path(logs), flags)
                results[side].append(result)
                reached = time_to(result, TARGET)
                rows.append(f"| {side} (pair {pair + 1}) | {len(result)} | "
                            f"{warm_epoch_seconds(result):.2f} | {result[-1]['val_accuracy']:.4f} | "
                            f"{'not reached' if reached is None else f'{reached:.1f} s'} |")
    listing = results["listing"]
    rows.append("")
    if plot is not None:
        plot_time_to_accuracy(results, plot)
        rows += [f"![time to accuracy]({plot.name})", ""]
    for side in sides[1:]:
        ratio = statistics.median(warm_epoch_seconds(ours) / warm_epoch_seconds(theirs)
                                  for ours, theirs in zip(results[side], listing, strict=True))
        reached = [(time_to(ours, TARGET), time_to(theirs, TARGET))
                   for ours, theirs in zip(results[side], listing, strict=True)]
        both = [ours / theirs for ours, theirs in reached if ours is not None and theirs is not None]
        to_target = (f"{statistics.median(both):.3f} over {len(both)} pair(s) where both reached it"
                     if both else "not reached by both in any pair")
        goal = "time to 98.5 % goal ≤ 0.25" if "--fast" in side else "epoch-time goal ≤ 0.5"
        rows.append(f"- {side} / listing: epoch time **{ratio:.3f}**, time to 98.5 % **{to_target}** "
                    f"({goal}); {pairs} pair(s).")
    return rows


# Every lab's batch script; the figure is its task's headline (accuracy, loss, PSNR ...).
LABS = ("00_foundations", "01_mnist_dense", "02_mnist_cnn", "03_mnist_dropout", "04_mnist_batchnorm",
        "06_tensorboard", "07_autoencoders", "08_denoising", "09_vae", "10_uncertainty", "11_imdb_bilstm",
        "12_fashion_mnist", "13_cifar10")
TINY_LABS = ("01_mnist_dense",)


def every_lab(labs, epochs: int, samples: int) -> list[str]:
    from workbench import recipes

    rows = ["| lab (model) | train samples | samples/s, warm epoch | peak memory (MB) | test figure | "
            "lab's full-run target |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as logs:
        for lab in labs:
            epochs_seen, result, peak = run_lab(lab, epochs, samples, Path(logs), [])
            recipe = recipes.get(lab)
            headline = result["headline"]
            rows.append(f"| {lab} ({result['model']}) | {result['train_samples']:,} | "
                        f"{result['train_samples'] / warm_epoch_seconds(epochs_seen):,.0f} | {peak:,.0f} | "
                        f"{headline} {result['test_' + headline]:.4f} after {len(epochs_seen)} | "
                        f"{recipe.full_target} after {recipe.epochs} |")
    return rows


def launch(strategy: str, ranks: int) -> tuple[list[str], dict]:
    """The command prefix that starts ``ranks`` ranks of ``strategy``, rank r pinned to core r."""
    venv = Path(PYTHON).parent
    if strategy == "horovod":
        pinned = f'exec taskset -c "$HOROVOD_LOCAL_RANK" {PYTHON} "$@"'
        return [str(venv / "horovodrun"), "-np", str(ranks), "-H", f"localhost:{ranks}", "--gloo",
                "sh", "-c", pinned, "rank"], dict(os.environ)
    return [PYTHON, str(ROOT / "bench" / "workers.py"), str(ranks)], dict(os.environ)


def weak_scaling(strategies, per_rank: int, epochs: int, extras) -> list[str]:
    rows = ["| strategy | steps per call | 1 rank: warm epoch (s) | 2 ranks: warm epoch (s) | "
            "weak-scaling efficiency |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as logs:
        for strategy in strategies:
            for extra in extras:
                seconds = {}
                for ranks in (1, 2):
                    prefix, env = launch(strategy, ranks)
                    epochs_seen, _result, _peak = run_lab(
                        "02_mnist_cnn", epochs, per_rank * ranks, Path(logs),
                        ["--strategy", strategy, *extra], launcher=prefix, env=env)
                    seconds[ranks] = warm_epoch_seconds(epochs_seen)
                steps = extra[-1] if extra else "default"
                rows.append(f"| {strategy} | {steps} | {seconds[1]:.2f} | {seconds[2]:.2f} | "
                            f"{seconds[1] / seconds[2]:.0%} |")
    rows += ["", f"Each rank trains {per_rank:,} images per epoch (batch 32) pinned to its own core; "
                 "efficiency = 1-rank epoch time / 2-rank epoch time (goal ≥ 90 %)."]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--tiny", action="store_true",
                        help="each kind of row once, on 1,000 images and 2 epochs: about a minute")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--only", choices=("startup", "lab02", "labs", "scaling"), action="append",
                        help="run only these sections (repeatable; default: all)")
    args = parser.parse_args(argv)
    if not os.environ.get("WORKBENCH_DATA"):
        parser.error("set WORKBENCH_DATA to the staged datasets (e.g. ../shared/data)")
    only = set(args.only or ("startup", "lab02", "labs", "scaling"))
    if args.tiny:
        epochs, samples, pairs, repeats, sides, labs = 2, 1000, 1, 1, TINY_SIDES, TINY_LABS
        scaling = (("horovod",), 500, 2, ([],))
    else:
        epochs, samples, pairs, repeats, sides, labs = args.epochs, 60000, args.pairs, 5, tuple(SIDES), LABS
        scaling = (("horovod", "multiworker"), 15000, 3, ([], ["--steps-per-execution", "1"]))
    section = [f"## Benchmark {datetime.date.today().isoformat()}{' (--tiny)' if args.tiny else ''}", "",
               f"Machine: {machine()}. {versions()}. Commit {commit()}. Command: "
               f"`python bench/run.py{' --tiny' if args.tiny else ''}"
               f"{''.join(' --only ' + name for name in args.only or ())}`.", ""]
    if "startup" in only:
        section += ["### Start-up", "", *startup(repeats), ""]
    if "lab02" in only:
        plot = args.out.parent / f"time_to_accuracy{'-tiny' if args.tiny else ''}.png"
        section += [f"### Lab 02 against lecture 003's listing as written ({samples:,} images, {epochs} "
                    "epochs unless the fast recipe's own, batch 32, SGD 0.01 momentum 0.9)", "",
                    *listing_against_lab02(epochs, samples, pairs, sides, plot=plot), ""]
    if "labs" in only:
        lab_samples, lab_epochs = (samples, epochs) if args.tiny else (10000, 2)
        section += [f"### Every lab's batch script ({lab_samples:,} training samples or all there are, "
                    f"{lab_epochs} epochs, its own batch size)", "",
                    *every_lab(labs, lab_epochs, lab_samples), ""]
    if "scaling" in only:
        strategies, per_rank, scaling_epochs, extras = scaling
        section += ["### Weak scaling, lab 02's CNN", "",
                    *weak_scaling(strategies, per_rank, scaling_epochs, extras), ""]
    text = "\n".join(section) + "\n"
    with args.out.open("a") as out:
        out.write("\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
