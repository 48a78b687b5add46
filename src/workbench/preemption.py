"""Stop before the time limit, resume after the requeue: the same for one process and for many.

SLURM sends ``--signal=B:USR1@N`` to the batch script, which passes it on to the training
processes (``slurm/lib.sh``; ``srun`` forwards it to every task). Each process only *notes* the
signal; training stops between two steps, and every rank of a data-parallel run must stop at
the *same* step: a rank that leaves while the others wait in the next all-reduce hangs the job
until SLURM kills it, and nothing is saved. So the ranks vote after every step (a sum over
ranks of "I was signalled", see ``workbench.strategies``) and all stop when any of them was signalled.

What is resumed comes from ``EpochBackup``: after every finished epoch, the values of all model
variables (weights, batch-norm statistics, dropout seed state) and all optimizer variables
(step count, momenta) are written to one file, ``<run_dir>/backup/state.npz``, together with
the number of epochs done. A requeued job restores them on every rank and trains on from the
next epoch; because each epoch's shuffle is seeded by its number (``data.epoch_batches``),
it ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError

STATE = {"signalled": False}


class BackupMismatchError(WorkbenchError):
    """A backup written by another model or optimizer than this run's."""


class Preempted(Exception):
    """Raised on every rank between the same two steps after SIGUSR1 reached any rank."""


def install_handler() -> None:
    """Turn SIGUSR1 into a flag; installed first thing in ``run_lab`` so a signal during
    start-up (data loading, TensorFlow import) is not fatal either."""

    def note(signum, frame):
        STATE["signalled"] = True

    signal.signal(signal.SIGUSR1, note)


def signalled() -> bool:
    return STATE["signalled"]


def stop_on_signal(vote: Callable[[bool], bool] = bool):
    """A Keras callback that raises ``Preempted`` after the step in which ``vote`` says stop.

    ``vote(signalled_here)`` is local for one process and an all-reduce for Horovod ranks.
    Raising (rather than setting ``stop_training``) keeps the half-finished epoch from being
    saved as if it were complete.
    """
    import keras

    class StopOnSignal(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if vote(signalled()):
                raise Preempted

    return StopOnSignal()


def backup_file(run_dir: Path) -> Path:
    return Path(run_dir) / "backup" / "state.npz"


def epochs_done(run_dir: Path) -> int:
    """Epochs finished by earlier runs of this run directory (0 for a new run)."""
    path = backup_file(run_dir)
    if not path.is_file():
        return 0
    with np.load(path, allow_pickle=False) as saved:
        return int(saved["epochs_done"])


def _variables(model) -> list:
    return list(model.variables) + list(model.optimizer.variables)


def epoch_backup(run_dir: Path, *, is_chief: bool):
    """A Keras callback: restore the backup when training begins, rewrite it after every epoch.

    Every rank restores (all read the same file on the shared file system) and every rank reads
    its variables when saving, because under MultiWorkerMirroredStrategy reading a batch-norm
    statistic is a collective operation; only the chief writes. The file is written beside its
    final name and renamed, so a job killed while saving keeps the previous epoch's backup.
    """
    import keras

    path = backup_file(run_dir)

    class EpochBackup(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if path.is_file():
                restore(self.model, path)

        def on_epoch_end(self, epoch, logs=None):
            variables = _variables(self.model)
            values = {f"v{index}": np.asarray(variable) for index, variable in enumerate(variables)}
            if not is_chief:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            with open(partial, "wb") as handle:
                np.savez(handle, epochs_done=np.int64(epoch + 1),
                         paths=np.array([variable.path for variable in variables]), **values)
            os.replace(partial, path)

    return EpochBackup()


def restore(model, path: Path) -> None:
    """Assign the saved values; a backup written by another model is refused, not half-loaded."""
    variables = _variables(model)
    with np.load(path, allow_pickle=False) as saved:
        paths = [str(p) for p in saved["paths"]]
        shapes_match = len(paths) == len(variables) and all(
            saved[f"v{i}"].shape == tuple(v.shape) for i, v in enumerate(variables))
        if not shapes_match:
            raise BackupMismatchError(
                f"the backup {path} was written by a different model or optimizer ({len(paths)} "
                f"variables, this run has {len(variables)}); use another --run-name, or delete "
                f"{path.parent} to start this run afresh")
        for index, variable in enumerate(variables):
            variable.assign(saved[f"v{index}"])
