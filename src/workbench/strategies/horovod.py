"""Horovod data parallelism: Keras' ``fit`` on each rank's shard, gradients averaged in the optimizer.

``horovod.tensorflow.keras`` is not used: under Keras 3 its ``DistributedOptimizer`` trains
without averaging anything, and its callbacks fail on Keras 3 variables (horovod/horovod#4290,
measured in ``shared/FACTS.md``). Instead, with plain ``horovod.tensorflow``:

* the optimizer's ``apply`` first averages the gradients over all ranks (``averaging_optimizer``),
  which catches every update of any ``train_step``, the model's own or a custom one;
* rank 0's weights are broadcast when training begins, and each epoch's logs are averaged;
* after every step the ranks sum their "I was signalled" votes, so all stop together.
"""

from __future__ import annotations

import numpy as np

from workbench import preemption
from workbench.distribute import DistributionError, horovod_env_from_slurm
from workbench.strategies.base import Strategy


def import_horovod():
    try:
        import horovod.tensorflow as hvd
    except ImportError as error:
        raise DistributionError(
            f"--strategy horovod needs Horovod, which is not importable here ({error}). Build it "
            "once with `scripts/build_horovod.sh` (Horovod 0.28.1 against TF 2.21), then retry."
        ) from None
    return hvd


def averaging_optimizer(optimizer, hvd, op=None):
    """A copy of ``optimizer`` whose ``apply`` first averages the gradients over all ranks.

    Keras 3's ``apply_gradients`` calls ``apply``, so overriding it here catches every update of
    ``fit``'s own ``train_step``: loss tracking, metrics and loss scaling stay Keras'. ``op`` is
    how the ranks' gradients are combined: ``hvd.Average`` (data parallelism, the default), or
    ``hvd.Sum`` for the tests' control, which must then differ from one process's step.
    """
    base = type(optimizer)
    op = hvd.Average if op is None else op

    class HorovodAveraging(base):
        def apply(self, grads, trainable_variables=None):
            grads = list(grads)
            dense = [i for i, g in enumerate(grads) if g is not None]
            averaged = hvd.grouped_allreduce([grads[i] for i in dense], op=op)
            for i, gradient in zip(dense, averaged, strict=True):
                grads[i] = gradient
            return super().apply(grads, trainable_variables)

    HorovodAveraging.__name__ = f"HorovodAveraging{base.__name__}"
    return HorovodAveraging.from_config(optimizer.get_config())


def horovod_callbacks(hvd):
    """Broadcast rank 0's initial weights; average batch norm's moving statistics and the epoch
    logs at each epoch end (before History, progress and backups); stop every rank at the same
    step once any rank was signalled."""
    import keras

    class BroadcastInitialWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            for index, variable in enumerate(self.model.variables):
                variable.assign(hvd.broadcast(variable.value, root_rank=0, name=f"initial_{index}"))

    class AverageEpochLogs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for key in sorted(logs or {}):
                logs[key] = float(hvd.allreduce(np.float64(logs[key]), op=hvd.Average,
                                                name=f"epoch_{key}"))

    class AverageMovingStatistics(keras.callbacks.Callback):
        # Batch norm's moving mean and variance are not trained by gradients: each rank updates
        # them from its own shard's batches, and they drift apart. Averaged at every epoch end
        # (before the backup and the checkpoint are written), every rank holds the same model.
        def on_epoch_end(self, epoch, logs=None):
            for index, variable in enumerate(moving_statistics(self.model)):
                variable.assign(hvd.allreduce(variable.value, op=hvd.Average, name=f"statistic_{index}"))

    def any_rank(signalled_here: bool) -> bool:
        return int(hvd.allreduce(np.int32(signalled_here), op=hvd.Sum, name="stop_vote")) > 0

    return [BroadcastInitialWeights(), AverageMovingStatistics(), AverageEpochLogs(),
            preemption.stop_on_signal(any_rank)]


def moving_statistics(model) -> list:
    """The model's float variables that gradients do not train (batch norm's moving mean and
    variance); the random layers' integer seed states stay as they are."""
    return [v for v in model.non_trainable_variables if str(v.dtype).startswith(("float", "bfloat"))]


class Horovod(Strategy):
    name = "horovod"

    @classmethod
    def setup(cls, *, cpu_replicas: int = 0) -> Strategy:
        import os

        hvd = import_horovod()
        if "HOROVOD_RANK" not in os.environ and "HOROVOD_GLOO_RENDEZVOUS_ADDR" in os.environ:
            os.environ.update(horovod_env_from_slurm())  # a rank started by srun, not horovodrun
        hvd.init()
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:  # one GPU per rank: each process sees only its own
            tf.config.set_visible_devices(gpus[hvd.local_rank() % len(gpus)], "GPU")
        return cls(None, rank=hvd.rank(), size=hvd.size(), replicas=hvd.size())

    def steps_per_epoch(self, samples: int, batch_size: int) -> int:
        """Each rank's steps: its shard (every shard cut to one length) in per-rank batches."""
        return -(-(samples // self.size) // batch_size)

    def prepare_optimizer(self, optimizer):
        return averaging_optimizer(optimizer, import_horovod())

    def training_batches(self, x, y, task, *, batch_size, seed, epochs):
        """Every size-th sample from this rank's index on, all shards cut to the same length."""
        from workbench.data import epoch_batches

        return epoch_batches(x, y, batch_size=batch_size, seed=seed, epochs=epochs, pair=task.pair,
                             mix=task.mix, shard=self.shard)

    def fit(self, model, task, train, validation, *, epochs, batch_size, callbacks=(), verbose=2, seed=0,
            initial_epoch=0) -> dict:
        """``fit`` on this rank's shard, gradients averaged over ranks; weights stay identical.

        Shards are cut to equal length, so every rank takes the same number of steps: a rank with
        one step more would wait forever in an all-reduce the others never join.
        """
        hvd = import_horovod()
        if not type(model.optimizer).__name__.startswith("HorovodAveraging"):
            raise TypeError("compile the model with strategy.prepare_optimizer(optimizer) under Horovod; "
                            "otherwise each rank trains alone and the weights drift apart")
        x, y = train
        batches = self.training_batches(x, y, task, batch_size=batch_size, seed=seed,
                                        epochs=range(initial_epoch, epochs))
        history = model.fit(batches, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                            steps_per_epoch=self.steps_per_epoch(len(x), batch_size),
                            validation_data=validation,
                            callbacks=horovod_callbacks(hvd) + list(callbacks),
                            verbose=verbose if self.is_chief else 0)
        return history.history
