"""What a run writes for TensorBoard beyond Keras' scalars: images, HParams, test metrics, profiles.

Keras' own ``keras.callbacks.TensorBoard`` writes the scalars (``train/`` and ``validation/``
runs, ``epoch_*`` tags), the model graph and, with ``histogram_freq``, weight histograms. The
rest of the dashboards need a little help, which lives here:

* ``image_samples``: a grid of test images titled with the model's guesses, once per epoch
  (IMAGES tab), so participants see what the numbers mean; ``reconstruction_samples`` does the
  same for autoencoders (input, output and target rows);
* ``hparams_callback`` and ``write_experiment``: the HParams dashboard needs both a session per
  run (hyperparameter values + the metrics to show) and, at the root of the sweep, one experiment
  config naming every hyperparameter and metric. Without the second, TensorBoard still guesses,
  but shows "No hparams data was found" when it is pointed at a single run;
* ``profile_steps``: a trace of chosen steps where the profile plugin looks for it
  (``<logdir>/plugins/profile/<timestamp>/``). Keras 3's ``profile_batch`` only profiles the
  first ``fit`` of a process, so the start/stop calls are made here;
* ``op_graph``: Keras 3's callback writes the conceptual graph (the "keras" tag) but no longer
  the graph of operations ("Not supported at this time"); tracing one forward pass restores it;
* ``write_test_metrics``: the final test accuracy and loss, the numbers the HParams table sorts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Metrics shown in the HParams table for every sweep: validation accuracy as Keras logs it, and
# the test accuracy/loss written once at the end of the run (write_test_metrics).
HPARAMS_METRICS = (("test_accuracy", None, "test accuracy"),
                   ("epoch_accuracy", "validation", "val accuracy (last epoch)"),
                   ("test_loss", None, "test loss"))


def leaving_randomness_alone(model, call):
    """``call()``, with the model's random-number state (dropout's, a VAE's sampling layer's) put
    back afterwards. Summaries run on rank 0 only and outside the epoch's backup; if they drew
    random numbers, rank 0's state would drift from the other ranks' and a resumed run would draw
    differently from an uninterrupted one."""
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    saved = [np.asarray(v) for v in states]
    try:
        return call()
    finally:
        for variable, value in zip(states, saved, strict=True):
            variable.assign(value)


def image_samples(log_dir: Path | str, images, labels, class_names, count: int = 16):
    """A Keras callback writing ``count`` test images, guesses drawn in, once per epoch."""
    import keras
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(Path(log_dir) / "images"))
    chosen = np.asarray(images[:count], dtype="float32")
    truth = np.asarray(labels[:count]).reshape(-1)

    class ImageSamples(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            guesses = np.asarray(leaving_randomness_alone(
                self.model, lambda: self.model(chosen, training=False))).argmax(-1)
            pictures = chosen.reshape(chosen.shape[:3] + (-1,))[..., :3]
            # A red bar along the bottom marks a wrong guess, a green one a right guess.
            marked = np.repeat(pictures, 3, axis=-1) if pictures.shape[-1] == 1 else pictures.copy()
            for index, (guess, true) in enumerate(zip(guesses, truth, strict=True)):
                marked[index, -2:, :, :] = (0.0, 1.0, 0.0) if guess == true else (1.0, 0.0, 0.0)
            description = ", ".join(f"{class_names[g]}{'' if g == t else f' (is {class_names[t]})'}"
                                    for g, t in zip(guesses, truth, strict=True))
            with writer.as_default():
                tf.summary.image("test samples (green: right, red: wrong)", marked, step=epoch,
                                 max_outputs=count, description=f"guesses: {description}")
            writer.flush()

    return ImageSamples()


def reconstruction_samples(log_dir: Path | str, inputs, targets, image_shape: tuple[int, ...],
                           count: int = 8):
    """A Keras callback writing, once per epoch, one picture of ``count`` test samples: the model's
    input on the top row, its output below, and the target on the bottom row when it differs
    from the input (denoising: noisy, denoised, clean)."""
    import keras
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(Path(log_dir) / "images"))
    chosen = np.asarray(inputs[:count], dtype="float32")
    wanted = np.asarray(targets[:count], dtype="float32")
    show_target = not np.array_equal(chosen, wanted)

    def as_row(images):  # [count, ...] -> one strip [h, count * w, 1]
        shape = (len(images),) + tuple(image_shape)[:2] + (-1,)
        pictures = np.asarray(images, dtype="float32").reshape(shape)
        return np.concatenate(list(pictures[..., :1]), axis=1)

    class ReconstructionSamples(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            outputs = np.asarray(leaving_randomness_alone(
                self.model, lambda: self.model(chosen, training=False)))
            rows = [as_row(chosen), as_row(outputs)] + ([as_row(wanted)] if show_target else [])
            picture = np.clip(np.concatenate(rows, axis=0), 0.0, 1.0)[None]
            caption = "rows: input, output" + (", target" if show_target else "")
            with writer.as_default():
                tf.summary.image(f"reconstructions ({caption})", picture, step=epoch, description=caption)
            writer.flush()

    return ReconstructionSamples()


def op_graph(log_dir: Path | str, sample):
    """A Keras callback writing the traced graph of one forward pass (GRAPHS tab, "op graph")."""
    import keras
    import tensorflow as tf

    sample = np.asarray(sample[:1], dtype="float32")

    class OpGraph(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            forward = tf.function(lambda x: self.model(x, training=False))
            tf.summary.trace_on(graph=True, profiler=False)
            leaving_randomness_alone(self.model, lambda: forward(sample))
            with tf.summary.create_file_writer(str(Path(log_dir) / "train")).as_default():
                tf.summary.trace_export("forward_pass", step=0)

    return OpGraph()


def write_test_metrics(log_dir: Path | str, metrics: dict[str, float], step: int) -> None:
    """Scalars ``test_accuracy``/``test_loss`` in the run's own directory (the HParams metrics)."""
    import tensorflow as tf

    with tf.summary.create_file_writer(str(log_dir)).as_default():
        for tag, value in metrics.items():
            tf.summary.scalar(tag, value, step=step)


def _hparam(name: str, values: list):
    """A discrete HParam: numbers stay numbers (floats if any is one), anything else a string."""
    from tensorboard.plugins.hparams import api as hp

    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        numbers = [float(v) for v in values] if any(isinstance(v, float) for v in values) else values
        return hp.HParam(name, hp.Discrete(sorted(numbers)))
    return hp.HParam(name, hp.Discrete(sorted(str(v) for v in values)))


def write_experiment(sweep_dir: Path | str, grid: dict[str, list]) -> None:
    """The sweep's experiment config, once, at the root TensorBoard is pointed at.

    Array tasks start at the same time; the marker file is created exclusively so exactly one
    of them writes the config.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    try:
        (sweep_dir / ".experiment").open("x").close()
    except FileExistsError:
        return
    hparams = [_hparam(name.replace("-", "_"), values) for name, values in sorted(grid.items())]
    metrics = [hp.Metric(tag, group=group, display_name=shown) for tag, group, shown in HPARAMS_METRICS]
    with tf.summary.create_file_writer(str(sweep_dir)).as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)


def hparams_callback(log_dir: Path | str, values: dict, trial_id: str):
    """``hp.KerasCallback``: records this run's hyperparameters as one HParams session."""
    from tensorboard.plugins.hparams import api as hp

    return hp.KerasCallback(str(log_dir), dict(values), trial_id=trial_id)


def profile_steps(log_dir: Path | str, first: int, last: int, epoch: int = 0):
    """A Keras callback tracing training steps ``first..last`` of epoch ``epoch`` (0-based).

    The trace goes to ``<log_dir>/plugins/profile/<timestamp>/<host>.xplane.pb``: TensorBoard's
    PROFILE tab then shows the step-time breakdown, and the trace viewer shows whether steps wait
    for input. On GPU nodes the device side needs CUPTI (README, "Profiling on GPUs").
    """
    import keras
    import tensorflow as tf

    if not 0 <= first <= last:
        raise ValueError(f"profile steps {first}..{last}: give 0 <= first <= last, e.g. --profile-steps 5,10")

    class ProfileSteps(keras.callbacks.Callback):
        active = done = False
        current_epoch = 0

        def on_epoch_begin(self, number, logs=None):
            self.current_epoch = number

        def on_train_batch_begin(self, batch, logs=None):
            if batch == first and self.current_epoch >= epoch and not self.done:
                tf.profiler.experimental.start(str(log_dir))
                self.active = True

        def on_train_batch_end(self, batch, logs=None):
            if self.active and batch == last:
                self._stop()

        def on_epoch_end(self, epoch, logs=None):
            if self.active:  # the epoch had fewer steps than `last`
                self._stop()

        def _stop(self):
            tf.profiler.experimental.stop()
            self.active, self.done = False, True

    return ProfileSteps()


def step_timer():
    """A Keras callback recording each epoch's mean wall time per step, input waiting included.

    Timing from one step's end to the next (not begin to end) is what shows a slow input
    pipeline: the time spent waiting for the next batch falls between two steps.
    """
    import time

    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ms_per_step: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._started, self._steps = time.perf_counter(), 0

        def on_train_batch_end(self, batch, logs=None):
            self._steps += 1

        def on_epoch_end(self, epoch, logs=None):
            self.ms_per_step.append(1000 * (time.perf_counter() - self._started) / max(self._steps, 1))

    return StepTimer()
