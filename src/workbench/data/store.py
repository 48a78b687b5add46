"""Finding, verifying and loading staged datasets — offline first.

Resolution order for ``load(name)``:

1. ``$WORKBENCH_DATA/<file>`` (staged copies; the normal case on compute nodes),
2. Keras' own cache (``~/.keras/datasets``), for files we can read without pickle,
3. a download from the official source, unless ``WORKBENCH_OFFLINE=1``,
4. otherwise an error that says exactly how to stage the file.

Every file found is checked by content (``workbench.data.content``) before its arrays are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench import settings
from workbench.data import fetch
from workbench.data.content import (  # noqa: F401  (re-exported: the errors are part of this API)
    DataError,
    DatasetCorruptError,
    DatasetMissingError,
    Located,
    fetch_hint,
    listed_digest,
    read_npz,
    read_verified,
)
from workbench.data.registry import DATASETS, DatasetSpec, get


def candidate_paths(spec: DatasetSpec, directory: Path) -> list[Path]:
    return [directory / name for name in spec.files]


def locate(name: str, *, data_dir: Path | str | None = None, download: bool | None = None) -> Located:
    """Find the file for ``name`` following the resolution order in the module docstring."""
    spec = get(name)
    staged = Path(data_dir) if data_dir is not None else settings.data_dir()
    looked = []
    # The staged directory first, then where `workbench data fetch` puts files by default.
    for directory in dict.fromkeys(d for d in (staged, settings.download_dir()) if d is not None):
        for path in candidate_paths(spec, directory):
            looked.append(str(path))
            if path.is_file():
                return Located(spec, path, "staged")
    cached = fetch.from_keras_cache(spec, settings.keras_cache_dir())
    looked.append(f"{settings.keras_cache_dir()}/ ({', '.join(spec.keras_cache) or 'nothing usable'})")
    if cached is not None:
        return Located(spec, cached, "keras-cache")
    allowed = not settings.offline() if download is None else download
    if allowed:
        target = staged if staged is not None else settings.download_dir()
        try:
            return Located(spec, fetch.fetch(spec, target), "downloaded")
        except fetch.FetchError as error:
            raise DatasetMissingError(
                f"{name}: not staged and the download failed: {error}\n"
                f"Looked in: {'; '.join(looked)}.\n" + fetch_hint(spec)
            ) from error
    hint = "WORKBENCH_DATA is not set; " if staged is None else ""
    raise DatasetMissingError(
        f"{name}: no staged copy found and downloading is off (WORKBENCH_OFFLINE=1 or "
        f"download=False). {hint}Looked in: {'; '.join(looked)}.\n" + fetch_hint(spec)
    )


# --------------------------------------------------------------------------- public loading


def quick_subset(n_total: int, n_keep: int, seed: int) -> np.ndarray:
    """Deterministic indices of a quick-mode subset: same seed, same samples, on every machine."""
    if n_keep >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).permutation(n_total)[:n_keep])


def _images(spec: DatasetSpec, arrays: dict[str, np.ndarray]):
    def split(part: str):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        return x, y.reshape((len(y),) + spec.label_shape).astype(np.int64)

    return split("train"), split("test")


def _text(spec: DatasetSpec, arrays: dict[str, np.ndarray]):
    text, offsets = arrays["text_bytes"], arrays["text_offsets"]
    reviews = np.array(
        [text[offsets[i]:offsets[i + 1]].tobytes().decode("utf-8") for i in range(len(offsets) - 1)],
        dtype=object,
    )
    labels = arrays["labels"].astype(np.int64)
    train, test = arrays["split"] == 0, arrays["split"] == 1
    return (reviews[train], labels[train]), (reviews[test], labels[test])


SPLITTERS = {"images": _images, "text": _text}


def load(
    name: str,
    *,
    quick: bool | None = None,
    data_dir: Path | str | None = None,
    download: bool | None = None,
    seed: int = 0,
    train_samples: int | None = None,
):
    """Load a dataset as NumPy arrays in the Keras layout: ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 ``(n, height, width[, channels])``; labels are integers (shape ``(n,)``, or
    ``(n, 1)`` for CIFAR as in Keras). ``imdb`` gives review *text* (object arrays of ``str``) and
    0/1 labels. With ``quick=True`` (or ``WORKBENCH_QUICK=1``) a deterministic subset is returned;
    ``train_samples`` sets the size of the training part instead (the test part stays quick's or
    whole): more data than quick mode for a model that needs it, in less time than all of it.
    """
    located = locate(name, data_dir=data_dir, download=download)
    arrays, _variant_name = read_verified(located)
    (x_train, y_train), (x_test, y_test) = SPLITTERS[located.spec.kind](located.spec, arrays)
    if settings.quick_mode(quick):
        n_train, n_test = located.spec.quick
        keep_test = quick_subset(len(x_test), n_test, seed + 1)
        x_test, y_test = x_test[keep_test], y_test[keep_test]
    if train_samples is not None:
        if train_samples < 1:
            raise ValueError(f"train_samples must be at least 1, got {train_samples}")
        keep_train = quick_subset(len(x_train), train_samples, seed)
        x_train, y_train = x_train[keep_train], y_train[keep_train]
    elif settings.quick_mode(quick):
        keep_train = quick_subset(len(x_train), n_train, seed)
        x_train, y_train = x_train[keep_train], y_train[keep_train]
    return (x_train, y_train), (x_test, y_test)


def class_names(name: str) -> tuple[str, ...]:
    spec = get(name)
    return spec.class_names or tuple(str(i) for i in range(spec.num_classes))


# --------------------------------------------------------------------------- verification report


@dataclass
class Report:
    name: str
    status: str  # "OK", "missing" or "corrupt"
    detail: str
    path: Path | None = None


def verify_one(spec: DatasetSpec, directory: Path) -> Report:
    for path in candidate_paths(spec, directory):
        if not path.is_file():
            continue
        try:
            arrays, variant = read_verified(Located(spec, path, "staged"))
        except DatasetCorruptError as error:
            return Report(spec.name, "corrupt", error.problem, path)
        train, test = spec.counts[variant]
        sums = "sha256 matches SHA256SUMS" if listed_digest(path) else "no SHA256SUMS entry"
        del arrays
        return Report(spec.name, "OK", f"{variant}: {train} train / {test} test; {sums}", path)
    names = " or ".join(spec.files)
    return Report(spec.name, "missing", f"no {names} in {directory}; run `workbench data fetch {spec.name}`")


def verify(directory: Path | str | None = None, names: list[str] | None = None) -> list[Report]:
    """Check every registered dataset (or ``names``) in ``directory``; never raises for content."""
    where = Path(directory) if directory is not None else (settings.data_dir() or settings.download_dir())
    return [verify_one(get(name), where) for name in (names or list(DATASETS))]
