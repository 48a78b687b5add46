"""Grid sweeps declared in one TOML file, one grid point per SLURM array task.

    # sweeps/02_batch_size.toml
    lab = "02_mnist_cnn"
    [grid]
    batch-size = [32, 64, 128]

``points`` enumerates the grid in a fixed order (keys sorted, values as written), so array task
``i`` always runs the same point; ``workbench sweep args FILE i`` prints that point as lab flags.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

from workbench.errors import OptionError


class SweepError(OptionError):
    """A sweep file that cannot be run; the message names the file and the fix."""


def load(path: Path | str) -> dict:
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist (see sweeps/ for examples)") from None
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep file {path} is not valid TOML: {error}") from None
    if "lab" not in spec or not isinstance(spec.get("grid"), dict) or not spec["grid"]:
        raise SweepError(f"sweep file {path} needs `lab = \"NN_name\"` and a non-empty [grid] table")
    for key, values in spec["grid"].items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"sweep file {path}: grid entry {key!r} must be a non-empty list")
    return spec


def points(spec: dict) -> list[dict]:
    keys = sorted(spec["grid"])
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(spec["grid"][key] for key in keys))]


def point(spec: dict, index: int) -> dict:
    grid = points(spec)
    if not 0 <= index < len(grid):
        raise SweepError(f"grid point {index} does not exist: this sweep has {len(grid)} points "
                         f"(submit with --array=0-{len(grid) - 1})")
    return grid[index]


def as_flags(values: dict) -> list[str]:
    return [part for key, value in values.items() for part in (f"--{key}", str(value))]


def hparams(point: dict) -> dict:
    """A grid point with HParams names: the sweep file's keys are lab flags (``num-units``), the
    HParams dashboard's are Python names (``num_units``), as the batch labs record them."""
    return {key.replace("-", "_"): value for key, value in point.items()}


def seed_summary(results: list[dict], lecture: list[dict] | None = None,
                 metric: str = "accuracy") -> list[dict]:
    """One row per point of a sweep run with several seeds: the mean of ``metric``, its range over
    the seeds, and the lecture's figure for the same point where given; best mean first.

    ``results`` are dicts of hyperparameters plus ``seed`` and ``metric`` (other keys are ignored);
    ``lecture`` rows hold the same hyperparameters and ``metric``.
    """
    ignored = {"seed", metric, "run"}
    groups: dict[tuple, list[float]] = {}
    for result in results:
        key = tuple(sorted((k, v) for k, v in result.items() if k not in ignored))
        groups.setdefault(key, []).append(float(result[metric]))
    theirs = {tuple(sorted((k, v) for k, v in row.items() if k != metric)): row[metric]
              for row in lecture or []}
    rows = []
    for key, values in groups.items():
        row = dict(key)
        if lecture is not None:
            row["lecture"] = theirs.get(key)
        row.update({"mean": sum(values) / len(values), "min": min(values), "max": max(values),
                    "seeds": len(values)})
        rows.append(row)
    return sorted(rows, key=lambda row: row["mean"], reverse=True)


def results(sweep_dir: Path | str) -> list[dict]:
    """The result of every finished point under ``sweep_dir`` (one ``result.json`` each)."""
    found = [json.loads(path.read_text()) for path in sorted(Path(sweep_dir).glob("*/result.json"))]
    if not found:
        raise SweepError(f"no finished sweep points under {sweep_dir} (each point writes "
                         "pNN-*/result.json when it ends); is this the sweep's run directory?")
    return found


def best(sweep_dir: Path | str, metric: str = "test_accuracy", top: int | None = None) -> list[dict]:
    """Rows of hyperparameters and ``metric``, best first (losses: lowest first)."""
    rows = [{**result["hparams"], metric: result[metric], "seconds": result["seconds"]}
            for result in results(sweep_dir)]
    rows.sort(key=lambda row: row[metric], reverse="loss" not in metric)
    return rows[:top]


def markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    shown = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                     + ["| " + " | ".join(cells) + " |" for cells in shown])


def run_all(path: Path | str, lab_args: list[str], run_name: str | None = None) -> Path:
    """Run every grid point one after the other, as the array job would; return the sweep dir.

    Each point is its own process, exactly like an array task, so no state leaks between points.
    """
    import subprocess
    import sys

    from workbench import settings

    spec = load(path)
    run_name = run_name or settings.sweep_id()
    count = len(points(spec))
    lab_run = f"from workbench.driver import main; main({spec['lab']!r})"
    for index in range(count):
        print(f"[sweep] point {index + 1}/{count}: {as_flags(point(spec, index))}", flush=True)
        done = subprocess.run([sys.executable, "-c", lab_run, "--sweep", str(path), "--point", str(index),
                               "--run-name", run_name, *lab_args])
        if done.returncode:
            raise SweepError(f"point {index} failed (exit {done.returncode}); its output is above. "
                             f"Rerun it alone: python labs/{spec['lab']}.py --sweep {path} --point {index}")
    log_dir = _option(lab_args, "--log-dir")
    return settings.sweep_dir(path, log_dir, run_name)


def _option(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
