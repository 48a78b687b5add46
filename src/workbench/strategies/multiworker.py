"""Multi-worker data parallelism (``MultiWorkerMirroredStrategy``) with a custom training loop.

``model.fit`` under this strategy fails in Keras 3 before a single step runs
(keras-team/keras#20585), so ``MultiWorker.fit`` drives the epochs itself, but each step is the
model's *own* ``train_step`` run on every replica with ``strategy.run``. That keeps whatever the
model trains with: compiled losses and metrics, ``add_loss`` terms, and a custom ``train_step``
such as a VAE's. Keras scales compiled and ``add_loss`` losses by 1 / replicas inside a
distribution strategy, and the strategy *sums* gradients across replicas in ``apply_gradients``,
so the update is the gradient of the mean loss over the global batch; a hand-written
``train_step`` must divide its loss by the number of replicas the same way (lab 09 shows it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from workbench import distribute, preemption
from workbench.strategies.base import Strategy


def remove_at_train_end(folder: Path):
    """A Keras callback deleting ``folder`` once training ends (after the callbacks before it)."""
    import shutil

    import keras

    class RemoveFolder(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            shutil.rmtree(folder, ignore_errors=True)

    return RemoveFolder()


def create_state(model, first_batch) -> None:
    """Create every variable a training step touches (optimizer slots, metric totals) up front,
    in the strategy's cross-replica scope: variables cannot be created inside ``strategy.run``.

    One forward pass with the model's own loss and metrics on a batch builds them; the metric
    totals are reset afterwards, so nothing of this pass is counted.
    """
    if not isinstance(first_batch, tuple):  # a model trained on inputs alone (a VAE)
        first_batch = (first_batch,)
    inputs, targets = first_batch if len(first_batch) == 2 else (first_batch[0], None)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    predictions = model(inputs, training=False)
    if model.loss is not None or model.losses:
        model.compute_loss(x=inputs, y=targets, y_pred=predictions, training=False)
    model.compute_metrics(inputs, targets, predictions, sample_weight=None)
    model.reset_metrics()


class MultiWorker(Strategy):
    name = "multiworker"

    @classmethod
    def setup(cls, *, cpu_replicas: int = 0) -> Strategy:
        if "TF_CONFIG" not in os.environ:
            os.environ["TF_CONFIG"] = json.dumps(distribute.tf_config_from_slurm())
        import tensorflow as tf

        config = json.loads(os.environ["TF_CONFIG"])
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return cls(strategy, rank=int(config["task"]["index"]), size=len(config["cluster"]["worker"]),
                   replicas=strategy.num_replicas_in_sync)

    def rank_callbacks(self, run_dir: Path, logging) -> list:
        """Every worker must take part in saving (reading a batch-norm statistic or a metric total
        is a collective operation here), so the others write the same logs to a temporary folder
        on their own node, removed when training ends: one run leaves one set of logs."""
        if self.is_chief:
            return logging(run_dir)
        import atexit
        import shutil
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix=f"workbench-worker{self.rank}-"))
        atexit.register(shutil.rmtree, scratch, True)  # also after a stop on SIGUSR1
        return [*logging(scratch), remove_at_train_end(scratch)]

    def training_batches(self, x, y, task, *, batch_size, seed, epochs):
        """This worker's shard of ``epochs``, as per-replica batches of a distributed dataset: each
        worker reads every num_workers-th sample (``distribute_datasets_from_function``). Shards
        are cut to one length, so the last, smaller batch has the same size on every worker and
        the mean over the replicas stays exact."""
        from workbench.data import epoch_batches

        return self.tf_strategy.distribute_datasets_from_function(
            lambda context: epoch_batches(x, y, batch_size=self.global_batch(batch_size), seed=seed,
                                          epochs=epochs, pair=task.pair, mix=task.mix, input_context=context))

    def fit(self, model, task, train, validation, *, epochs, batch_size, callbacks=(), verbose=2, seed=0,
            initial_epoch=0) -> dict:
        """Synchronous data-parallel training; every worker ends with the same weights.

        Each worker reads its own shard of each epoch (``distribute_datasets_from_function``), the
        steps are the model's ``train_step`` on every replica, and after each step the workers sum
        their "I was signalled" votes so that all stop at the same step.
        """
        import keras
        import tensorflow as tf

        from workbench.data import epoch_batches

        strategy = self.tf_strategy
        x, y = train

        with strategy.scope():
            create_state(model, next(iter(epoch_batches(x[:8], None if y is None else y[:8], batch_size=8,
                                                        pair=task.pair, mix=task.mix))))

        @tf.function
        def train_step(batch, signalled):
            strategy.run(model.train_step, args=(batch,))
            votes = strategy.run(tf.identity, args=(signalled,))
            return strategy.reduce("SUM", votes, axis=None)

        from workbench.strategies.horovod import moving_statistics

        statistics = moving_statistics(model)

        @tf.function
        def averaged_statistics():
            # Each worker's batch norm statistics come from its own shard: the mean over workers
            # is set on every worker at the epoch end, before backups and checkpoints are written.
            local = strategy.run(lambda: [tf.identity(variable.value) for variable in statistics])
            return [strategy.reduce("MEAN", value, axis=None) for value in local]

        callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
        history: dict[str, list[float]] = {}
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            steps = 0
            for batch in self.training_batches(x, y, task, batch_size=batch_size, seed=seed,
                                               epochs=range(epoch, epoch + 1)):
                callback_list.on_train_batch_begin(steps)
                if int(train_step(batch, tf.constant(int(preemption.signalled())))):
                    raise preemption.Preempted
                callback_list.on_train_batch_end(steps)
                steps += 1
            if statistics:
                for variable, mean in zip(statistics, averaged_statistics(), strict=True):
                    variable.assign(mean)
            logs = {key: float(value) for key, value in model.get_metrics_result().items()}
            if validation is not None:
                logs.update({f"val_{key}": value for key, value in task.validate(model, *validation).items()})
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            callback_list.on_epoch_end(epoch, logs)
            if verbose and self.is_chief:
                shown = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {steps} steps - {shown}", flush=True)
        callback_list.on_train_end()
        return history
