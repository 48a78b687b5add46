"""What a valid dataset file holds, checked by content; the errors every data problem raises.

Files are checked by *content* (arrays present, dtypes, shapes, sample counts, label ranges), not
by the bytes of one particular copy: the staged copies in ``shared/data`` were rebuilt from public
dumps and differ byte-wise from Keras' files while holding the same arrays. Where a
``SHA256SUMS`` file sits beside the data, it is checked too, which catches bit rot that still
parses. ``numpy.load`` is always called with ``allow_pickle=False``.

Both ``store`` (finding and loading staged files) and ``fetch`` (downloading and converting the
originals) use this module; it imports neither of them.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.registry import DatasetSpec
from workbench.errors import WorkbenchError


class DataError(WorkbenchError, RuntimeError):
    """Base class: every message names the file and the command that fixes it."""


class DatasetMissingError(DataError):
    pass


class DatasetCorruptError(DataError):
    def __init__(self, message: str, problem: str = ""):
        super().__init__(message)
        self.problem = problem or message


IMAGE_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
TEXT_ARRAYS = ("text_bytes", "text_offsets", "labels", "split", "ratings")


def fetch_hint(spec: DatasetSpec, where: Path | None = None) -> str:
    target = f" --dir {where}" if where else ""
    return (
        f"On a machine with internet run `workbench data fetch {spec.name}{target}`, copy "
        f"{spec.staged_name} into the staged-data directory and `export WORKBENCH_DATA=<that dir>`."
    )


def _corrupt(spec: DatasetSpec, path: Path, problem: str) -> DatasetCorruptError:
    return DatasetCorruptError(
        f"{spec.name}: {path} is corrupt: {problem}. Delete it and stage a fresh copy. "
        + fetch_hint(spec, path.parent),
        problem,
    )


# --------------------------------------------------------------------------- content checks


def _check_images(spec: DatasetSpec, arrays: dict[str, np.ndarray], path: Path) -> str:
    for key in IMAGE_ARRAYS:
        if key not in arrays:
            raise _corrupt(spec, path, f"array {key!r} is missing (found {sorted(arrays)})")
    counts = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8:
            raise _corrupt(spec, path, f"x_{split} has dtype {x.dtype}, expected uint8 pixels")
        if tuple(x.shape[1:]) != spec.image_shape:
            raise _corrupt(
                spec, path,
                f"x_{split} has shape {x.shape}, expected (n, {', '.join(map(str, spec.image_shape))})",
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise _corrupt(spec, path, f"y_{split} has dtype {y.dtype}, expected integer labels")
        if y.ndim > 2 or y.shape[1:] not in ((), (1,)):
            raise _corrupt(spec, path, f"y_{split} has shape {y.shape}, expected (n,)")
        y = y.reshape(-1)
        if len(y) != len(x):
            raise _corrupt(spec, path, f"{len(x)} images in x_{split} but {len(y)} labels in y_{split}")
        if len(y) and (y.min() < 0 or y.max() >= spec.num_classes):
            raise _corrupt(
                spec, path,
                f"y_{split} has labels {y.min()}..{y.max()}, expected 0..{spec.num_classes - 1}",
            )
        if len(x) and int(x.max()) == 0:
            raise _corrupt(spec, path, f"x_{split} is all zeros")
        counts.append(len(x))
    return _variant(spec, tuple(counts), path)


def _check_text(spec: DatasetSpec, arrays: dict[str, np.ndarray], path: Path) -> str:
    for key in TEXT_ARRAYS:
        if key not in arrays:
            raise _corrupt(spec, path, f"array {key!r} is missing (found {sorted(arrays)})")
    text, offsets = arrays["text_bytes"], arrays["text_offsets"]
    labels, split, ratings = arrays["labels"], arrays["split"], arrays["ratings"]
    n = len(labels)
    if text.dtype != np.uint8 or text.ndim != 1:
        raise _corrupt(spec, path, f"text_bytes must be 1-D uint8, found {text.dtype} {text.shape}")
    if offsets.shape != (n + 1,):
        raise _corrupt(spec, path, f"text_offsets has shape {offsets.shape}, expected ({n + 1},)")
    if n and (offsets[0] != 0 or offsets[-1] != len(text) or np.any(np.diff(offsets) < 0)):
        raise _corrupt(spec, path, "text_offsets do not run from 0 to len(text_bytes) in order")
    if split.shape != (n,) or ratings.shape != (n,):
        raise _corrupt(spec, path,
                       f"labels, split and ratings differ in length ({n}, {len(split)}, {len(ratings)})")
    for key in ("labels", "split", "ratings", "text_offsets"):
        if not np.issubdtype(arrays[key].dtype, np.integer) or arrays[key].ndim != 1:
            raise _corrupt(spec, path, f"{key} must be a 1-D integer array, found {arrays[key].dtype} "
                                       f"{arrays[key].shape}")
    if n and (labels.min() < 0 or labels.max() > 1):
        raise _corrupt(spec, path, f"labels run {labels.min()}..{labels.max()}, expected 0 or 1")
    if n and not np.isin(split, (0, 1)).all():
        raise _corrupt(spec, path, "split holds values other than 0 (train) and 1 (test)")
    if n and (ratings.min() < 1 or ratings.max() > 10):
        raise _corrupt(spec, path, f"ratings run {ratings.min()}..{ratings.max()}, expected 1..10")
    if n and np.any((labels == 1) != (ratings >= 7)):
        raise _corrupt(spec, path, "labels disagree with ratings (positive means a rating of 7 or more)")
    counts = (int(np.sum(split == 0)), int(np.sum(split == 1)))
    return _variant(spec, counts, path)


def _variant(spec: DatasetSpec, counts: tuple[int, int], path: Path) -> str:
    for variant, expected in spec.counts.items():
        if counts == tuple(expected):
            return variant
    known = ", ".join(f"{v} {c[0]}/{c[1]}" for v, c in spec.counts.items())
    raise _corrupt(spec, path, f"it holds {counts[0]} train / {counts[1]} test samples; expected {known}")


CONTENT_CHECKS = {"images": _check_images, "text": _check_text}


def check_arrays(spec: DatasetSpec, arrays: dict[str, np.ndarray], path: Path) -> str:
    """Validate the arrays of a dataset file; return its variant ("full", "subset", ...)."""
    return CONTENT_CHECKS[spec.kind](spec, arrays, path)


# --------------------------------------------------------------------------- reading files


def read_npz(spec: DatasetSpec, path: Path) -> dict[str, np.ndarray]:
    """All arrays of ``path``, read without pickle; damaged archives become DatasetCorruptError."""
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"PK\x03\x04":
                raise ValueError("not a zip archive")
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        # ValueError is also what numpy raises for pickled object arrays: refused on purpose.
        raise _corrupt(spec, path, f"it cannot be read as a NumPy .npz archive ({error})") from error


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def listed_digest(path: Path) -> str | None:
    """The digest a ``SHA256SUMS`` file beside ``path`` lists for it, if there is one."""
    sums = path.parent / "SHA256SUMS"
    if not sums.is_file():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == path.name:
            return parts[0].lower()
    return None


@dataclass
class Located:
    """A dataset file that was found, and where it came from."""

    spec: DatasetSpec
    path: Path
    origin: str  # "staged", "keras-cache" or "downloaded"


def read_verified(located: Located, *, check_digest: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """Read a located file and check it; return its arrays and variant."""
    spec, path = located.spec, located.path
    if check_digest:
        expected = listed_digest(path)
        if expected is not None and sha256_of(path) != expected:
            sums = path.parent / "SHA256SUMS"
            raise _corrupt(spec, path, f"its SHA-256 differs from the one listed in {sums}")
    arrays = read_npz(spec, path)
    return arrays, check_arrays(spec, arrays, path)
