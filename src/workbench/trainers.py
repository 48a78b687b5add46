"""How each strategy trains a compiled Keras model: one ``fit``-like call per strategy name.

* ``default`` and ``mirrored``: Keras' own ``model.fit`` (built inside the strategy's scope).
* ``multiworker``: ``custom_loop_fit``, because ``model.fit`` under MultiWorkerMirroredStrategy
  fails in Keras 3 (keras-team/keras#20585) before a single step runs.
* ``horovod``: ``model.fit`` with the optimizer made to average gradients across ranks, rank 0's
  weights broadcast when training begins and epoch logs averaged. ``horovod.tensorflow.keras``
  is not used: under Keras 3 its ``DistributedOptimizer`` trains without averaging anything.

Every trainer takes the same arguments and returns a Keras-style ``history`` dict; only rank 0
is given the logging/checkpoint callbacks, so one run writes one set of logs. Every trainer also
stops all its ranks at the same step after SIGUSR1 (``workbench.preemption``) and reads each
epoch's batches in an order fixed by the epoch's number, so a resumed run repeats nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench import preemption
from workbench.distribute import Distribution, import_horovod

Trainer = Callable[..., dict]


def epoch_dataset(x, y, *, batch_size: int, seed: int, first_epoch: int, epochs: int):
    """Batches for epochs ``first_epoch..epochs-1``, each shuffled by a seed derived from its number.

    Epoch e sees the same order whether the run started at 0 or resumed at e after a requeue,
    which is what lets a resumed job end with the weights of an uninterrupted one.
    """
    import tensorflow as tf

    samples = tf.data.Dataset.from_tensor_slices((x, y))
    batches = None
    for epoch in range(first_epoch, epochs):  # a Python loop: shuffle wants a Python-int seed
        part = samples.shuffle(len(x), seed=seed * 100_003 + epoch, reshuffle_each_iteration=False)
        part = part.batch(batch_size)
        batches = part if batches is None else batches.concatenate(part)
    if batches is None:  # nothing left to train: a finished run started again
        batches = samples.batch(batch_size).take(0)
    return batches.prefetch(tf.data.AUTOTUNE)


def keras_fit(dist: Distribution, model, x, y, *, epochs, batch_size, validation_data,
              callbacks=(), verbose=2, seed=0, initial_epoch=0) -> dict:
    """``fit`` on epoch-seeded batches; under MirroredStrategy ``batch_size`` is per replica."""
    global_batch = dist.global_batch(batch_size)
    batches = epoch_dataset(x, y, batch_size=global_batch, seed=seed, first_epoch=initial_epoch,
                            epochs=epochs)
    history = model.fit(batches, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                        steps_per_epoch=-(-len(x) // global_batch), validation_data=validation_data,
                        callbacks=[preemption.stop_on_signal(), *callbacks], verbose=verbose)
    return history.history


# --------------------------------------------------------------------------- multi-worker


def custom_loop_fit(dist: Distribution, model, x, y, *, epochs, batch_size, validation_data,
                    callbacks=(), verbose=2, seed=0, initial_epoch=0) -> dict:
    """Synchronous data-parallel training with ``strategy.run``; every worker ends with equal weights.

    Each worker reads its own shard of the data (``distribute_datasets_from_function``), computes
    the loss over its per-replica batch scaled by the *global* batch size, and the strategy sums
    gradients across workers inside ``apply_gradients``. Keras callbacks get the usual hooks with
    the epoch's logs, so CSV, TensorBoard and checkpoint callbacks work on rank 0.
    """
    import keras
    import tensorflow as tf

    from workbench.data import as_dataset

    strategy = dist.strategy
    global_batch = dist.global_batch(batch_size)

    def epoch_batches(epoch):
        """This worker's shard of epoch ``epoch``, shuffled by a seed derived from its number."""
        return strategy.distribute_datasets_from_function(
            lambda context: as_dataset(x, y, batch_size=global_batch, input_context=context,
                                       seed=seed * 100_003 + epoch, drop_remainder=True))

    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    optimizer = model.optimizer
    if not optimizer.built:
        with strategy.scope():
            optimizer.build(model.trainable_variables)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            per_example = loss_fn(labels, predictions)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(predictions, -1, output_type=tf.int64),
                                                 tf.reshape(tf.cast(labels, tf.int64), [-1])), tf.float32))
        return loss, correct

    @tf.function
    def train_step(batch, signalled):
        """One step; also sums every replica's "I was signalled" so all workers stop together."""
        loss, correct = strategy.run(replica_step, args=batch)
        votes = strategy.run(tf.identity, args=(signalled,))
        return (strategy.reduce("SUM", loss, axis=None), strategy.reduce("SUM", correct, axis=None),
                strategy.reduce("SUM", votes, axis=None))

    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    history: dict[str, list[float]] = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        total_loss, total_correct, steps = 0.0, 0.0, 0
        for batch in epoch_batches(epoch):
            loss, correct, votes = train_step(batch, tf.constant(int(preemption.signalled())))
            if int(votes):
                raise preemption.Preempted
            total_loss += float(loss)
            total_correct += float(correct)
            steps += 1
        logs = {"loss": total_loss / max(steps, 1), "accuracy": total_correct / max(steps * global_batch, 1)}
        if validation_data is not None:
            val_loss, val_accuracy = evaluate(model, *validation_data)
            logs.update(val_loss=val_loss, val_accuracy=val_accuracy)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        callback_list.on_epoch_end(epoch, logs)
        if verbose and dist.is_chief:
            shown = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {steps} steps - {shown}", flush=True)
    callback_list.on_train_end()
    return history


def evaluate(model, x, y, batch_size: int = 256) -> tuple[float, float]:
    """Loss and accuracy computed batch by batch with direct model calls, so it works under
    every strategy (``model.evaluate`` shares ``fit``'s multi-worker failure)."""
    import keras

    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        probabilities = np.asarray(model(x[start:start + batch_size], training=False))
        labels = np.reshape(y[start:start + batch_size], -1)
        total_loss += float(loss_fn(labels, probabilities)) * len(labels)
        correct += int(np.sum(probabilities.argmax(-1) == labels))
    return total_loss / len(x), correct / len(x)


# --------------------------------------------------------------------------- Horovod


def averaging_optimizer(optimizer, hvd):
    """A copy of ``optimizer`` whose ``apply`` first averages the gradients over all ranks.

    Keras 3's ``apply_gradients`` calls ``apply``, so overriding it here catches every update of
    ``fit``'s own ``train_step``: loss tracking, metrics and loss scaling stay Keras'.
    """
    base = type(optimizer)

    class HorovodAveraging(base):
        def apply(self, grads, trainable_variables=None):
            grads = list(grads)
            dense = [i for i, g in enumerate(grads) if g is not None]
            averaged = hvd.grouped_allreduce([grads[i] for i in dense], op=hvd.Average)
            for i, gradient in zip(dense, averaged, strict=True):
                grads[i] = gradient
            return super().apply(grads, trainable_variables)

    HorovodAveraging.__name__ = f"HorovodAveraging{base.__name__}"
    return HorovodAveraging.from_config(optimizer.get_config())


def horovod_callbacks(hvd):
    """Broadcast rank 0's initial weights; average epoch logs (runs before History and progress);
    stop every rank at the same step once any rank was signalled."""
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

    def any_rank(signalled_here: bool) -> bool:
        return int(hvd.allreduce(np.int32(signalled_here), op=hvd.Sum, name="stop_vote")) > 0

    return [BroadcastInitialWeights(), AverageEpochLogs(), preemption.stop_on_signal(any_rank)]


def horovod_fit(dist: Distribution, model, x, y, *, epochs, batch_size, validation_data,
                callbacks=(), verbose=2, seed=0, initial_epoch=0) -> dict:
    """``fit`` on this rank's shard, gradients averaged over ranks; weights stay identical.

    Shards are cut to equal length, so every rank takes the same number of steps: a rank with
    one step more would wait forever in an all-reduce the others never join.
    """
    hvd = import_horovod()
    if not type(model.optimizer).__name__.startswith("HorovodAveraging"):
        raise TypeError("compile the model with prepare_optimizer(dist, optimizer) under Horovod; "
                        "otherwise each rank trains alone and the weights drift apart")
    size, rank = dist.shard or (1, 0)
    per_rank = len(x) // size
    x_shard, y_shard = x[rank::size][:per_rank], y[rank::size][:per_rank]
    batches = epoch_dataset(x_shard, y_shard, batch_size=batch_size, seed=seed, first_epoch=initial_epoch,
                            epochs=epochs)
    history = model.fit(batches, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                        steps_per_epoch=-(-per_rank // batch_size), validation_data=validation_data,
                        callbacks=horovod_callbacks(hvd) + list(callbacks),  # logging: rank 0 only (run_lab)
                        verbose=verbose if dist.is_chief else 0)
    return history.history


def prepare_optimizer(dist: Distribution, optimizer):
    """The optimizer to compile with: under Horovod one that averages gradients across ranks."""
    return averaging_optimizer(optimizer, import_horovod()) if dist.name == "horovod" else optimizer


TRAINERS: dict[str, Trainer] = {
    "default": keras_fit,
    "mirrored": keras_fit,
    "multiworker": custom_loop_fit,
    "horovod": horovod_fit,
}
