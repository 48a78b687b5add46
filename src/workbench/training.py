"""Training helpers for notebooks and the batch driver: seeding, optimizers, compiling, callbacks.

Notebooks keep ``model.compile`` and ``model.fit`` visible and take only ``seed_everything`` and
``callbacks(run_dir)`` from here; the batch driver (``workbench.driver``) uses the same pieces.
"""

from __future__ import annotations

from pathlib import Path


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic.

    Determinism costs speed, so it is opt-in: a requeued job that must end with the same weights
    as an uninterrupted one needs it; a participant exploring does not.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def lecture_optimizer(learning_rate=0.01, **clipping):
    """The lecture's optimizer: SGD, learning rate 0.01, momentum 0.9 (``lr=`` is gone in Keras 3).

    Data-parallel runs pass a scaled rate or a warm-up schedule instead of 0.01; ``clipping`` is
    Keras' ``clipnorm``/``global_clipnorm``/``clipvalue``, as for the others.
    """
    import keras

    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, **clipping)


def sgd(learning_rate=0.01, **clipping):
    import keras

    return keras.optimizers.SGD(learning_rate=learning_rate, **clipping)


def adam(learning_rate=0.001, **clipping):
    import keras

    return keras.optimizers.Adam(learning_rate=learning_rate, **clipping)


# --optimizer name -> (builder taking a learning rate or schedule, its base learning rate).
# "sgd" and "adam" are Keras' defaults, as in TensorBoard's HParams tutorial the lecture shows.
OPTIMIZERS = {"lecture": (lecture_optimizer, 0.01), "sgd": (sgd, 0.01), "adam": (adam, 0.001)}


def compile_classifier(model, optimizer=None, **speed):
    """Compile as the lecture does: softmax outputs, integer labels, accuracy (``speed``: compile's
    ``steps_per_execution`` and ``jit_compile``, see ``workbench.speed``)."""
    model.compile(
        optimizer=optimizer or lecture_optimizer(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **speed,
    )
    return model


def epoch_timer():
    """A callback that adds ``epoch_seconds`` (wall time of the epoch's training, validation
    included) to the epoch's logs, so ``history.csv`` says how fast each epoch was: what a
    participant compares between two settings, and what ``bench/`` reads."""
    import time

    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and hasattr(self, "started"):
                logs["epoch_seconds"] = round(time.perf_counter() - self.started, 3)

    return EpochTimer()


def callbacks(run_dir: Path | str, *, histogram_freq: int = 0, checkpoint: bool = True,
              append: bool = False) -> list:
    """TensorBoard (scalars, graph, histograms every ``histogram_freq`` epochs), a CSV log with
    each epoch's seconds and a per-epoch checkpoint, all under ``run_dir``."""
    import keras

    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    chosen = [
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), histogram_freq=histogram_freq,
                                    write_graph=True),
        # After TensorBoard (whose scalars stay the model's own), before the CSV log that records it.
        epoch_timer(),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=append),
    ]
    if checkpoint:
        chosen.append(keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "last.keras")))
    return chosen

