"""Datasets: registry, offline-first loading with verification, fetching, and tf.data input.

    from workbench import data
    (x_train, y_train), (x_test, y_test) = data.load("mnist")
"""

from workbench.data.pipeline import add_noise, epoch_batches, gaussian_noise
from workbench.data.registry import DATASETS, DatasetSpec, Source, UnknownDatasetError, get
from workbench.data.store import (
    DataError,
    DatasetCorruptError,
    DatasetMissingError,
    class_names,
    load,
    locate,
    verify,
)

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetCorruptError",
    "DatasetMissingError",
    "DatasetSpec",
    "Source",
    "UnknownDatasetError",
    "add_noise",
    "epoch_batches",
    "gaussian_noise",
    "class_names",
    "get",
    "load",
    "locate",
    "verify",
]
