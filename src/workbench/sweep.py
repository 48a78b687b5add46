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
import tomllib
from pathlib import Path


class SweepError(ValueError):
    pass


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
