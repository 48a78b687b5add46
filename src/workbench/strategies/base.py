"""The strategy interface, and the two strategies Keras' own ``fit`` trains: one device, mirrored.

A strategy object knows four things, so nothing else in the workbench asks which one it has:

* how it is set up (``setup``): devices, ranks, replicas kept in sync;
* how it trains (``fit``): any compiled Keras 3 model, on the task's (input, target) batches;
* how it wraps the optimizer (``prepare_optimizer``): Horovod averages gradients there;
* which callbacks each rank gets (``rank_callbacks``): only rank 0 logs and checkpoints.

Every ``fit`` reads each epoch's batches in an order fixed by the epoch's number
(``data.epoch_batches``) and stops all ranks at the same step after SIGUSR1
(``workbench.preemption``), so a requeued run resumes exactly where the backup left it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from workbench import preemption


class Strategy:
    name: ClassVar[str] = ""

    def __init__(self, tf_strategy=None, *, rank: int = 0, size: int = 1, replicas: int = 1):
        self.tf_strategy = tf_strategy  # a tf.distribute.Strategy; None under Horovod
        self.rank = rank
        self.size = size  # processes taking part
        self.replicas = replicas  # replicas kept in sync, over all processes

    @classmethod
    def setup(cls, *, cpu_replicas: int = 0) -> Strategy:
        raise NotImplementedError

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def scope(self):
        """Where models and optimizers are created, so their variables are placed for this strategy."""
        return self.tf_strategy.scope() if self.tf_strategy is not None else contextlib.nullcontext()

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(num_shards, index)`` for processes that each read their own part of the data."""
        return (self.size, self.rank) if self.size > 1 else None

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def steps_per_epoch(self, samples: int, batch_size: int) -> int:
        """Training steps in one epoch of ``samples`` (``batch_size`` per replica), as ``fit`` runs
        them: the last, smaller batch counts."""
        return -(-samples // self.global_batch(batch_size))

    def prepare_optimizer(self, optimizer):
        """The optimizer to compile with (Horovod's averages gradients across ranks)."""
        return optimizer

    def rank_callbacks(self, run_dir: Path, logging: Callable[[Path], list]) -> list:
        """Rank 0 logs and checkpoints into the run directory; the other ranks write nothing."""
        return logging(run_dir) if self.is_chief else []

    def training_batches(self, x, y, task, *, batch_size: int, seed: int, epochs: range):
        """What this rank reads in ``epochs``: the batches ``fit`` trains on (``batch_size`` per
        replica). Tests read it to prove the ranks' shards are disjoint and cover the data."""
        raise NotImplementedError

    def fit(self, model, task, train, validation, *, epochs: int, batch_size: int, callbacks=(),
            verbose=2, seed: int = 0, initial_epoch: int = 0) -> dict:
        """Train ``model`` (compiled in ``scope()``) on ``train = (x, y)``; return the history dict.

        ``batch_size`` is per replica; ``validation`` is the task's (input, target) tuple.
        """
        raise NotImplementedError


class KerasFit(Strategy):
    """Strategies that Keras' ``model.fit`` trains as it is."""

    def training_batches(self, x, y, task, *, batch_size, seed, epochs):
        """Global batches (per-replica batch x replicas); Keras splits each among the replicas."""
        from workbench.data import epoch_batches

        return epoch_batches(x, y, batch_size=self.global_batch(batch_size), seed=seed, epochs=epochs,
                             pair=task.pair, mix=task.mix)

    def fit(self, model, task, train, validation, *, epochs, batch_size, callbacks=(), verbose=2, seed=0,
            initial_epoch=0) -> dict:
        x, y = train
        batches = self.training_batches(x, y, task, batch_size=batch_size, seed=seed,
                                        epochs=range(initial_epoch, epochs))
        history = model.fit(batches, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                            steps_per_epoch=self.steps_per_epoch(len(x), batch_size),
                            validation_data=validation,
                            callbacks=[preemption.stop_on_signal(), *callbacks], verbose=verbose)
        return history.history


class OneDevice(KerasFit):
    name = "default"

    @classmethod
    def setup(cls, *, cpu_replicas: int = 0) -> Strategy:
        import tensorflow as tf

        return cls(tf.distribute.get_strategy())


def split_cpu(replicas: int) -> None:
    """Expose ``replicas`` logical CPU devices, to show data parallelism without GPUs."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)


class Mirrored(KerasFit):
    """All local GPUs; with none, ``cpu_replicas`` logical CPUs (or the one CPU)."""

    name = "mirrored"

    @classmethod
    def setup(cls, *, cpu_replicas: int = 0) -> Strategy:
        import tensorflow as tf

        devices = None
        if not tf.config.list_physical_devices("GPU") and cpu_replicas > 1:
            split_cpu(cpu_replicas)
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        return cls(strategy, replicas=strategy.num_replicas_in_sync)
