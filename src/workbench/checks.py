"""Exercise checks with specific feedback for participants.

A bare ``assert`` tells a participant *that* something is wrong; these checks say *what* and
*how to fix it*: which layer differs from the lecture's listing, which loss suits integer labels,
why accuracy is low. Each check prints one line starting with a tick when it passes and raises
``CheckFailed`` (an ``AssertionError``, so nbgrader counts it as a failed test) when it does not.

    from workbench import checks
    checks.model(model, "mnist_cnn")
    checks.compiled(model)
    checks.accuracy(model, x_test, y_test, minimum=0.95)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench import models as registry


class CheckFailed(AssertionError):
    """A participant-facing failure: the message says what is wrong and what to do."""


def _passed(message: str) -> bool:
    print(f"\u2705 {message}")
    return True


def _fail(message: str) -> CheckFailed:
    return CheckFailed(f"\u274c {message}")


# Which configuration entries identify a layer for the purpose of a lab (others are defaults).
LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    "Dense": ("units", "activation", "use_bias", "activity_regularizer"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "UpSampling2D": ("size",),
    "Reshape": ("target_shape",),
    "Dropout": ("rate",),
    "BatchNormalization": (),
    "Activation": ("activation",),
    "Flatten": (),
}


def _config_value(value):
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):  # serialized objects: activations by name, regularizers with settings
        config = value.get("config", {})
        if "name" in config:
            return config["name"]
        settings = ", ".join(f"{key}={_config_value(v)!r}" for key, v in sorted(config.items()))
        return f"{value.get('class_name')}({settings})"
    return value


def layer_fields(layer) -> dict:
    config = layer.get_config()
    return {key: _config_value(config.get(key)) for key in LAYER_FIELDS.get(type(layer).__name__, ())}


DEFAULTS = ((1, 1), "valid", None)  # not worth showing in a layer's description


def describe(layer) -> str:
    """A layer as participants would write it, e.g. ``Dense(100, activation='relu')``."""
    fields = layer_fields(layer)
    shown = []
    for key, value in fields.items():
        if key in ("units", "filters"):
            shown.append(repr(value))
        elif (key == "use_bias" and value) or value is None or (
                key in ("strides", "padding") and value in DEFAULTS):
            continue
        else:
            shown.append(f"{key}={value!r}")
    return f"{type(layer).__name__}({', '.join(shown)})"


def _require_model(model):
    import keras

    if not isinstance(model, keras.Model):
        raise _fail(
            f"expected a Keras model, got {type(model).__name__}. Build it with "
            "keras.Sequential([...]) and assign it to `model`."
        )


def _computing_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _same_layers(model, reference, show, fields, whose: str) -> list:
    """Fail at the first layer that differs from ``reference``'s (``fields`` says what identifies a
    layer, ``show`` how it is named); return the model's layers. A functional model lists its
    InputLayer, a Sequential one does not: either way of writing the same network passes."""
    yours, theirs_all = _computing_layers(model), _computing_layers(reference)
    for position, (mine, theirs) in enumerate(zip(yours, theirs_all, strict=False), 1):
        if type(mine) is not type(theirs) or fields(mine) != fields(theirs):
            raise _fail(f"layer {position} should be {show(theirs)}, yours is {show(mine)}.")
    if len(yours) < len(theirs_all):
        raise _fail(f"your model has {len(yours)} layers, {whose} {len(theirs_all)}: "
                    f"layer {len(yours) + 1} should be {show(theirs_all[len(yours)])}.")
    if len(yours) > len(theirs_all):
        raise _fail(f"your model has {len(yours)} layers, {whose} {len(theirs_all)}: "
                    f"remove {show(yours[len(theirs_all)])} and what follows it.")
    return yours


def model(model, expected: str) -> bool:
    """Compare ``model`` with the registry's ``expected`` architecture, layer by layer."""
    _require_model(model)
    spec = registry.get(expected)
    reference = registry.build(expected)
    yours_in, ref_in = tuple(model.input_shape[1:]), tuple(reference.input_shape[1:])
    if yours_in != ref_in:
        raise _fail(f"your model takes inputs of shape {yours_in}, the lecture's takes {ref_in}: "
                    f"start with keras.Input(shape={ref_in}).")
    yours_out, ref_out = tuple(model.output_shape[1:]), tuple(reference.output_shape[1:])
    if yours_out != ref_out:
        raise _fail(f"wrong output shape: your model outputs {yours_out}, expected {ref_out} "
                    f"(one probability per class): the last layer needs {ref_out[-1]} units "
                    "and a softmax activation.")
    yours_layers = _same_layers(model, reference, describe, layer_fields, "the lecture's")
    if model.count_params() != reference.count_params():
        raise _fail(f"your model has {model.count_params():,} parameters, expected "
                    f"{reference.count_params():,}; compare model.summary() with the listing.")
    return _passed(f"model matches {spec.title!r}: {len(yours_layers)} layers, "
                   f"{model.count_params():,} parameters.")


LOSS_ADVICE = {
    "categorical_crossentropy": "categorical_crossentropy expects one-hot labels, but y_train holds "
                                "integer class ids (0-9): use 'sparse_categorical_crossentropy'.",
    "binary_crossentropy": "binary_crossentropy is for two classes; with 10 classes use "
                           "'sparse_categorical_crossentropy'.",
    "mean_squared_error": "mean squared error is for regression; a softmax classifier is trained "
                          "with 'sparse_categorical_crossentropy'.",
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


def _loss_name(loss) -> str:
    """The snake_case name of a loss however it was given: ``"sparse_categorical_crossentropy"``,
    ``"SparseCategoricalCrossentropy"``, ``keras.losses.sparse_categorical_crossentropy`` (the
    function, as in the lecture's Horovod listing) or ``keras.losses.SparseCategoricalCrossentropy()``."""
    if isinstance(loss, str):
        name = loss if loss.islower() else _snake(loss)
    elif getattr(loss, "name", None):  # a loss object
        name = loss.name
    elif callable(loss) and hasattr(loss, "__name__") and loss.__name__ != "<lambda>":  # a function
        name = loss.__name__
    else:
        name = _snake(type(loss).__name__)
    return LOSS_ALIASES.get(name, name)


def compiled(model, loss: str = "sparse_categorical_crossentropy", optimizer: str = "SGD",
             learning_rate: float = 0.01, momentum: float | None = 0.9, replicas: int = 1) -> bool:
    """Check the compile step: loss, optimizer and its settings, accuracy metric.

    ``replicas`` > 1: the lecture's single-device ``learning_rate`` scaled by the linear scaling
    rule (lab 05), and the feedback says so rather than quoting the scaled figure as the lecture's.
    """
    _require_model(model)
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise _fail("the model is not compiled yet: call model.compile(optimizer=..., loss=..., "
                    "metrics=['accuracy']) before training.")
    yours = _loss_name(model.loss)
    if yours != loss:
        advice = LOSS_ADVICE.get(yours, f"use loss='{loss}'.")
        raise _fail(f"wrong loss {yours!r}: {advice}")
    if getattr(model.loss, "get_config", None) and model.loss.get_config().get("from_logits"):
        raise _fail("the loss has from_logits=True, but the model's last layer already applies a softmax: "
                    "the softmax would be applied twice. Leave from_logits out (False).")
    opt = model.optimizer
    if type(opt).__name__ != optimizer:
        raise _fail(f"the lecture uses keras.optimizers.{optimizer}, yours is {type(opt).__name__}.")
    rate = float(np.asarray(opt.learning_rate))
    if replicas > 1 and not np.isclose(rate, learning_rate * replicas):
        raise _fail(f"learning rate is {rate:g}: the lecture uses {learning_rate:g} on one device, and with "
                    f"{replicas} replicas the linear scaling rule multiplies it by {replicas}: "
                    f"learning_rate={learning_rate:g} * strategy.num_replicas_in_sync "
                    f"(= {learning_rate * replicas:g}).")
    if replicas == 1 and not np.isclose(rate, learning_rate):
        raise _fail(f"learning rate is {rate:g}, the lecture uses {learning_rate:g} "
                    f"(Keras 3 spells it learning_rate=, not lr=).")
    if momentum is not None and not np.isclose(float(getattr(opt, "momentum", 0.0)), momentum):
        raise _fail(f"momentum is {getattr(opt, 'momentum', 0.0)}, the lecture uses {momentum}.")
    return _passed(f"compiled with {optimizer}(learning_rate={rate:g}"
                   + (f", momentum={momentum}" if momentum is not None else "") + f") and {loss}.")


def mirrored_strategy(strategy) -> bool:
    """Lab 05: a ``MirroredStrategy`` over this node's devices, whichever node the notebook runs on:
    all its GPUs (``MirroredStrategy()``), or without GPUs the logical CPUs the notebook set up."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MirroredStrategy):
        raise _fail(f"strategy is {type(strategy).__name__}: create tf.distribute.MirroredStrategy(...).")
    replicas = strategy.num_replicas_in_sync
    gpus = len(tf.config.list_physical_devices("GPU"))
    cpus = len(tf.config.list_logical_devices("CPU"))
    if gpus and replicas == gpus:
        return _passed(f"MirroredStrategy over this node's {gpus} GPU(s).")
    if not gpus and replicas == cpus > 1:
        return _passed(f"MirroredStrategy with {replicas} replicas (the logical CPUs).")
    fix = (f"this node has {gpus} GPU(s): tf.distribute.MirroredStrategy() with no argument takes them all"
           if gpus else f"this node has no GPU: pass the {cpus} logical CPUs, "
                        "tf.distribute.MirroredStrategy(devices)")
    raise _fail(f"the strategy has {replicas} replica(s); {fix}.")


def images_prepared(x, shape: tuple[int, ...], name: str = "x_train") -> bool:
    """Check that images were reshaped to ``(n,) + shape`` and scaled to [0, 1]."""
    x = np.asarray(x)
    if tuple(x.shape[1:]) != tuple(shape):
        dims = ", ".join(map(str, shape))
        raise _fail(f"{name} has shape {x.shape}; the model expects (n, {dims}): "
                    f"use {name}.reshape(-1, {dims}).")
    if x.max() > 1.0:
        raise _fail(f"{name} still holds pixel values up to {x.max():g}: "
                    "divide by 255 so they lie in [0, 1].")
    if not np.issubdtype(x.dtype, np.floating):
        raise _fail(f"{name} has dtype {x.dtype}; scale with `/ 255` (which gives floats).")
    return _passed(f"{name}: shape {x.shape}, values in [{x.min():g}, {x.max():g}].")


def accuracy(model, x, y, minimum: float) -> bool:
    """Evaluate ``model`` on (x, y) and require at least ``minimum`` accuracy."""
    _require_model(model)
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    value = float(results.get("accuracy", results.get("compile_metrics", np.nan)))
    if np.isnan(value):
        raise _fail("the model reports no accuracy: compile it with metrics=['accuracy'].")
    if value < minimum:
        raise _fail(f"accuracy {value:.4f} is below {minimum:.2f}. Common causes: pixels not scaled "
                    "to [0, 1] (divide by 255), too few epochs, or a learning rate far from 0.01.")
    return _passed(f"accuracy {value:.4f} (needed {minimum:.2f}).")


def trained(model, x, y, lab: str) -> bool:
    """The lab's headline figure (accuracy, reconstruction loss, PSNR ...) against its target:
    the full recipe's, or quick mode's looser one. The lab's task computes the figure, so this
    check means the same in the notebook as in the batch run."""
    from workbench import recipes, settings

    _require_model(model)
    recipe = recipes.get(lab)
    task = recipe.task_class()
    target = recipe.quick_target if settings.quick_mode() else recipe.full_target
    value = task.evaluate(model, x, y)[task.headline]
    name = task.headline.replace("_", " ")
    if np.isnan(value):
        raise _fail(f"the {name} is not a number: the training diverged. Lower the learning rate and "
                    "rebuild the model.")
    if (value < target) if task.higher_is_better else (value > target):
        side = "below" if task.higher_is_better else "above"
        raise _fail(f"{name} {value:.4f} is {side} {target:g}. {task.advice}")
    side = "at least" if task.higher_is_better else "at most"
    return _passed(f"{name} {value:.4f} (needed {side} {target:g}).")


def improves_on(model, untrained, x, y, lab: str, factor: float) -> bool:
    """The trained ``model``'s loss is at most ``factor`` times an ``untrained`` one's of the same
    architecture: learning happened, whatever the model's size (used where one lab trains several)."""
    from workbench import recipes

    _require_model(model)
    task = recipes.get(lab).task_class()
    mine, before = task.evaluate(model, x, y)["loss"], task.evaluate(untrained, x, y)["loss"]
    if not mine <= factor * before:
        raise _fail(f"loss {mine:.4f} is not below {factor:g} x the untrained model's {before:.4f}: "
                    f"{task.advice}")
    return _passed(f"loss {mine:.4f}, {mine / before:.0%} of the untrained model's {before:.4f}.")


def model_builder(build, expected: str, arguments: list[dict]) -> bool:
    """Check a ``build(**arguments)`` function against the registry's ``expected`` builder for every
    set of ``arguments``: a builder that ignores an argument (or swaps two) builds a different
    model for some set, and the message names the set and the layer that differs."""
    import inspect

    names = sorted({name for args in arguments for name in args})
    try:
        accepted = set(inspect.signature(build).parameters)
    except (TypeError, ValueError):
        raise _fail(f"{getattr(build, '__name__', build)!r} is not a function: define "
                    f"def build_model({', '.join(names)}): ... and return the model.") from None
    missing = [name for name in names if name not in accepted]
    if missing:
        raise _fail(f"build_model takes {sorted(accepted)}, but the sweep passes {names}: name the "
                    f"parameters {', '.join(names)}.")
    for args in arguments:
        call = ", ".join(f"{key}={value!r}" for key, value in args.items())
        try:
            built = build(**args)
        except Exception as error:  # the participant's code: say what it raised, for which call
            raise _fail(f"build_model({call}) raised {type(error).__name__}: {error} Are num_units "
                        "and dropout where they belong: Dense(num_units, ...), Dropout(dropout)?") from None
        if built is None:
            raise _fail(f"build_model({call}) returned None: end it with return keras.Sequential([...]).")
        _require_model(built)
        try:
            _same_layers(built, registry.build(expected, **args), describe, layer_fields, "the lecture's")
        except CheckFailed as error:
            detail = str(error).removeprefix("\u274c ")
            raise _fail(f"build_model({call}): {detail} Use the arguments in the layers (Dense(num_units, "
                        "...), Dropout(dropout)) instead of fixed numbers.") from None
    return _passed(f"build_model follows its arguments: {len(arguments)} settings built as the "
                   f"tutorial's model.")


def _logged(run: Path) -> tuple[list[float], dict]:
    """What one trial's TensorBoard files hold: the validation accuracy of every epoch (Keras'
    TensorBoard callback, ``<run>/validation``) and the hyperparameters of its HParams session
    (``hp.KerasCallback``, ``<run>``)."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import metadata as hparams_metadata
    from tensorboard.plugins.hparams import plugin_data_pb2

    def events(folder: Path):
        for path in sorted(folder.glob("events.out.tfevents.*")):
            for record in tf.data.TFRecordDataset(str(path)):
                yield event_pb2.Event.FromString(record.numpy())

    accuracies, session = [], {}
    for event in events(run / "validation"):
        for value in event.summary.value:
            if value.tag == "epoch_accuracy":
                accuracies.append((event.step, float(tf.make_ndarray(value.tensor))))
    for event in events(run):
        for value in event.summary.value:
            if value.tag == hparams_metadata.SESSION_START_INFO_TAG:
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                for name, hparam in data.session_start_info.hparams.items():
                    session[name] = getattr(hparam, hparam.WhichOneof("kind"))
    return [accuracy for _, accuracy in sorted(accuracies)], session


def hparams_sweep(results, grid: dict, seeds=(0, 1, 2), floor: float | None = None) -> bool:
    """Every combination of ``grid`` trained once per seed, and each number came from training.

    A result is a dict of the point's values (``num_units``, ``dropout``, ``optimizer``), its
    ``seed``, its ``accuracy`` and its ``run`` directory. The accuracy must be the validation
    accuracy that trial's TensorBoard callback logged for its last epoch, and the trial's HParams
    session must record the same values: numbers typed in, copied between trials or measured on
    another model do not match the logs. ``floor``: the least a working one-epoch run reaches
    (default: quick mode's or the full data's, see below).
    """
    from workbench import settings, sweep

    if floor is None:
        # Measured 2026-11-24 (validation split, one epoch, seeds 0-2): quick mode's 4,167 images
        # give SGD few steps, its worst trial 0.419 (16 units, sgd) -> floor 0.3; on the full data
        # the worst trial is 0.744 (16 units, dropout 0.2, sgd) -> floor 0.65. Chance, and an
        # untrained model, score 0.10.
        floor = 0.3 if settings.quick_mode() else 0.65
    keys = sorted(name.replace("-", "_") for name in grid)
    expected = {tuple(point[k] for k in sorted(point)) + (seed,)
                for point in ({key.replace("-", "_"): value for key, value in p.items()}
                              for p in sweep.points({"grid": grid})) for seed in seeds}
    results = list(results)
    seen = []
    for result in results:
        if not isinstance(result, dict) or not {*keys, "seed", "accuracy", "run"} <= set(result):
            raise _fail(f"each result needs {keys + ['seed', 'accuracy', 'run']}; got {result!r}: append "
                        "{**point, 'seed': seed, 'accuracy': accuracy, 'run': run_dir} in the loop.")
        seen.append(tuple(result[k] for k in keys) + (result["seed"],))
    repeated = sorted({trial for trial in seen if seen.count(trial) > 1}, key=str)
    if repeated:
        example = dict(zip([*keys, "seed"], repeated[0], strict=True))
        raise _fail(f"{example} ran {seen.count(repeated[0])} times: run each point once per seed.")
    missing = sorted(expected - set(seen), key=str)
    if missing:
        example = dict(zip([*keys, "seed"], missing[0], strict=True))
        raise _fail(f"{len(missing)} trial(s) never ran, e.g. {example}: loop over every point of "
                    f"sweep.points(spec) and every seed in {list(seeds)}.")
    if len(seen) != len(expected):
        raise _fail(f"{len(seen)} results for {len(expected)} trials: run each point once per seed.")
    for result in results:
        trial = {k: result[k] for k in keys}
        run = Path(result["run"])
        accuracies, session = _logged(run)
        if not accuracies:
            raise _fail(f"no validation accuracy logged under {run / 'validation'} for {trial}: pass "
                        "keras.callbacks.TensorBoard(run_dir) to fit, with validation_data.")
        if abs(float(result["accuracy"]) - accuracies[-1]) > 1e-4:
            raise _fail(f"accuracy {float(result['accuracy']):.4f} for {trial} (seed {result['seed']}) "
                        f"is not what that trial logged for its last epoch ({accuracies[-1]:.4f}): return "
                        "history.history['val_accuracy'][-1] of the fit that wrote the run's logs.")
        recorded = {name: session.get(name) for name in keys}
        if any(recorded[name] is None or (recorded[name] != trial[name] and not (
                isinstance(trial[name], int | float) and np.isclose(float(recorded[name]), trial[name])))
               for name in keys):
            raise _fail(f"the HParams session in {run} records {recorded}, the result says {trial}: give "
                        "hp.KerasCallback(run_dir, hparams) the values this trial trained with.")
        if accuracies[-1] < floor:
            raise _fail(f"accuracy {accuracies[-1]:.4f} for {trial} (seed {result['seed']}) is below "
                        f"{floor:g}, which every point reaches after one epoch: train on the scaled images "
                        "(divided by 255) with the point's optimizer.")
    return _passed(f"all {len(expected)} trials ({len(expected) // len(seeds)} points x {len(seeds)} seeds) "
                   "trained, and each number matches its TensorBoard logs.")


# --------------------------------------------------------------------------- labs 08-10

def noisy_images(noisy, noise_factor: float = 0.4, count: int = 2000) -> bool:
    """Check a denoising lab's corruption ``noisy(images)``: Gaussian noise of standard deviation
    ``noise_factor`` with mean 0, clipped to [0, 1], fresh on every call.

    Fed mid-grey images (0.5), where the clipping is easy to account for: the expected spread is
    that of 0.5 + noise_factor * N(0, 1) clipped to [0, 1], so a missing factor, uniform noise or
    a missing clip each show as their own number.
    """
    grey = np.full((count, 28, 28, 1), 0.5, "float32")
    first = np.asarray(noisy(grey), "float64")
    if first.shape != grey.shape:
        raise _fail(f"noisy(images) returned shape {first.shape} for images of shape {grey.shape}: "
                    "add noise of the images' own shape, tf.random.normal(tf.shape(images)).")
    if np.isnan(first).any():
        raise _fail("noisy(images) returned NaN: add noise_factor * tf.random.normal(...) to the images.")
    if np.allclose(first, grey):
        raise _fail("noisy(images) returned the images unchanged: add "
                    "noise_factor * tf.random.normal(tf.shape(images)).")
    if first.min() < 0.0 or first.max() > 1.0:
        raise _fail(f"noisy pixels range over [{first.min():.2f}, {first.max():.2f}]: clip them back to "
                    "[0, 1] with tf.clip_by_value(..., 0.0, 1.0), the range of the clean images.")
    draws = 0.5 + np.random.default_rng(0).standard_normal(2_000_000)[:, None] * np.array([noise_factor, 1.0])
    expected, unscaled = np.clip(draws, 0.0, 1.0).std(axis=0)
    mean, std = first.mean(), first.std()
    if abs(mean - 0.5) > 0.01:
        raise _fail(f"the noisy grey images average {mean:.3f} instead of 0.5: the noise needs mean 0 "
                    "(tf.random.normal, not tf.random.uniform).")
    if abs(std - expected) > 0.01:
        hint = ("the N(0, 1) noise is not multiplied by noise_factor" if abs(std - unscaled) < 0.01
                else f"the noise should be noise_factor * N(0, 1) with noise_factor = {noise_factor:g}")
        raise _fail(f"noise spread {std:.3f}, expected {expected:.3f} after clipping: {hint}.")
    if np.array_equal(first, np.asarray(noisy(grey), "float64")):
        raise _fail("two calls gave the same noise: draw it anew on every call (tf.random.normal without "
                    "a fixed op seed), so every epoch sees each image with different noise.")
    return _passed(f"noise with mean 0 and spread {std:.3f} (noise_factor {noise_factor:g}, clipped to "
                   "[0, 1]), fresh on every call.")


def noisy_pairs(dataset, clean, batch_size: int = 128) -> bool:
    """Check a denoising ``tf.data`` pipeline: shuffled batches of (noisy input, clean target).

    The model learns the map from its inputs to its targets, so the order inside the pair *is*
    the lesson: (clean, noisy) trains a noise generator, (noisy, noisy) learns to copy the noise.
    The targets are recognised as rows of ``clean`` (the clean training images), byte for byte.
    """
    batch = next(iter(dataset))
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise _fail("each element must be a pair (input, target): map every image x to "
                    "(noisy(x), x) with .map(lambda x: (noisy(x), x)).")
    inputs, targets = (np.asarray(part) for part in batch)
    clean = np.asarray(clean)
    if inputs.shape[1:] != clean.shape[1:] or targets.shape[1:] != clean.shape[1:]:
        raise _fail(f"a batch holds inputs {inputs.shape} and targets {targets.shape}; expected "
                    f"({batch_size}, {', '.join(map(str, clean.shape[1:]))}) each: batch the pairs "
                    f"with .batch({batch_size}) after .map(...).")
    if len(targets) != min(batch_size, len(clean)):
        raise _fail(f"the first batch has {len(targets)} pairs, expected {batch_size}: .batch({batch_size}).")
    known = {hash(row.tobytes()) for row in clean.astype(targets.dtype, copy=False)}
    target_clean = all(hash(row.tobytes()) in known for row in targets)
    input_clean = all(hash(row.tobytes()) in known for row in inputs.astype(targets.dtype, copy=False))
    if input_clean and not target_clean:
        raise _fail("the pair is the wrong way round: the input must be the noisy image and the target "
                    "the clean one, (noisy(x), x).")
    if input_clean:
        raise _fail("the inputs are clean images: corrupt them, .map(lambda x: (noisy(x), x)).")
    if not target_clean:
        raise _fail("the targets are not the clean training images: the model must learn to give back "
                    "x itself, (noisy(x), x), not a noisy copy.")
    if np.array_equal(targets, clean[: len(targets)]):
        raise _fail("the first batch is the first training images in order: shuffle before batching, "
                    ".shuffle(len(x_train)) before .batch(...).")
    return _passed(f"shuffled batches of {len(targets)} (noisy, clean) pairs; mean |noise| in the first "
                   f"batch {np.abs(inputs - targets).mean():.3f}.")


def sampling(layer, samples: int = 20_000) -> bool:
    """Check a VAE's Sampling layer (the reparameterisation trick, z = mu + sigma * epsilon).

    ``samples`` rows of z_mean = 2 and z_log_var = log(0.25) must give z with mean 2 and standard
    deviation 0.5 = exp(0.5 * log(0.25)): the log-variance's half is the log of sigma. The usual
    slips each give their own numbers: sigma taken as exp(z_log_var) (std 0.25), no epsilon (all
    2), one epsilon for all rows or for all calls (a constant, or a fixed integer seed).
    ``layer`` may be the layer or its class.
    """
    if isinstance(layer, type):
        layer = layer()
    z_mean = np.full((samples, 2), 2.0, "float32")
    z_log_var = np.full((samples, 2), np.log(0.25), "float32")
    first = np.asarray(layer([z_mean, z_log_var]), "float64")
    if first.shape != z_mean.shape:
        raise _fail(f"the layer returned shape {first.shape} for z_mean of shape {z_mean.shape}: "
                    "one z per row and latent dimension, epsilon of shape ops.shape(z_mean).")
    if np.isnan(first).any():
        raise _fail("z contains NaN: sigma is exp(0.5 * z_log_var) (a log-variance can be negative, "
                    "so no square root of it).")
    if np.allclose(first, z_mean):
        raise _fail("z equals z_mean: the random part is missing; add exp(0.5 * z_log_var) * epsilon with "
                    "epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator).")
    if first.std(axis=0).max() < 1e-6:
        raise _fail("every row got the same z: epsilon is a constant or has one value for the whole "
                    "batch; draw it with the shape of z_mean, keras.random.normal(ops.shape(z_mean), ...).")
    if np.array_equal(first, np.asarray(layer([z_mean, z_log_var]), "float64")):
        raise _fail("two calls drew the same epsilon: pass seed=self.seed_generator (a "
                    "keras.random.SeedGenerator made in __init__), not a fixed integer seed.")
    mean, std = first.mean(), first.std()
    if abs(mean - 2.0) > 0.02:
        hint = "z_mean is not added" if abs(mean) < 0.1 else "z should be z_mean + sigma * epsilon"
        raise _fail(f"z averages {mean:.3f} for z_mean = 2: {hint}.")
    slips = {0.25: "exp(z_log_var) is the variance; sigma is exp(0.5 * z_log_var)",
             1.0: "epsilon is not multiplied by sigma = exp(0.5 * z_log_var)",
             abs(np.log(0.25)): "z_log_var is the log of the variance, not sigma: use exp(0.5 * z_log_var)",
             abs(0.5 * np.log(0.25)): "0.5 * z_log_var is log(sigma): take its exp"}
    if abs(std - 0.5) > 0.02:
        hint = next((why for value, why in slips.items() if abs(std - value) < 0.03),
                    "sigma should be exp(0.5 * z_log_var)")
        raise _fail(f"z has standard deviation {std:.3f} for z_log_var = log(0.25), expected 0.5: {hint}.")
    return _passed(f"z = z_mean + exp(0.5 * z_log_var) * epsilon: mean {mean:.3f}, std {std:.3f} over "
                   f"{samples:,} draws (expected 2 and 0.5).")


def vae_encoder(encoder, latent_dim: int = 2, input_shape: tuple[int, ...] = (28, 28, 1)) -> bool:
    """Compare a VAE encoder with keras-io's (``workbench.vae.encoder``) layer by layer, and check
    that it outputs [z_mean, z_log_var, z], in that order, each of size ``latent_dim``."""
    from workbench import vae

    _require_model(encoder)
    reference = vae.encoder(input_shape, latent_dim)
    if len(encoder.outputs) != 3:
        raise _fail(f"the encoder has {len(encoder.outputs)} output(s); it needs three: "
                    "keras.Model(inputs, [z_mean, z_log_var, z]).")
    for position, (mine, theirs) in enumerate(zip(encoder.layers, reference.layers, strict=False), 1):
        if type(mine).__name__ != type(theirs).__name__ or layer_fields(mine) != layer_fields(theirs):
            raise _fail(f"layer {position} should be {describe(theirs)}, yours is {describe(mine)}.")
    if len(encoder.layers) != len(reference.layers):
        raise _fail(f"your encoder has {len(encoder.layers)} layers, keras-io's {len(reference.layers)}: "
                    "two Dense(latent_dim) heads on the Dense(16) features, then Sampling.")
    makers = [type(output._keras_history[0]).__name__ for output in encoder.outputs]
    if makers[:2] != ["Dense", "Dense"] or makers[2] == "Dense":
        raise _fail(f"the outputs come from {makers}: list them as [z_mean, z_log_var, z], the two Dense "
                    "heads first and the sampled z last (the VAE unpacks them in that order).")
    if encoder.count_params() != reference.count_params():
        raise _fail(f"your encoder has {encoder.count_params():,} parameters, keras-io's "
                    f"{reference.count_params():,}.")
    return _passed(f"encoder matches keras-io's: outputs [z_mean, z_log_var, z], "
                   f"{encoder.count_params():,} parameters.")


def _tiny_vae_parts(latent_dim: int = 2):
    """A deterministic encoder (z = z_mean, no sampling) and decoder with fixed weights, so that a
    VAE's loss can be compared exactly with the formula computed here."""
    import keras

    def init(seed):
        return keras.initializers.RandomNormal(stddev=0.05, seed=seed)

    inputs = keras.Input(shape=(28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    z_mean = keras.layers.Dense(latent_dim, kernel_initializer=init(1), bias_initializer=init(2))(flat)
    z_log_var = keras.layers.Dense(latent_dim, kernel_initializer=init(3), bias_initializer=init(4))(flat)
    encoder = keras.Model(inputs, [z_mean, z_log_var, z_mean])
    latent = keras.Input(shape=(latent_dim,))
    pixels = keras.layers.Dense(784, activation="sigmoid", kernel_initializer=init(5),
                                bias_initializer=init(6))(latent)
    decoder = keras.Model(latent, keras.layers.Reshape((28, 28, 1))(pixels))
    return encoder, decoder


def vae_loss(vae_model, batch: int = 16) -> bool:
    """Check a VAE's ``loss_terms(images)``: binary cross-entropy summed over the pixels and the KL
    divergence -0.5 * (1 + log_var - mean^2 - exp(log_var)) summed over the latent dimensions, each
    averaged over the batch (keras-io's VAE). ``vae_model`` may be the class or an instance; its
    class is given a deterministic encoder and decoder so that the expected values are exact."""
    encoder, decoder = _tiny_vae_parts()
    model = (vae_model if isinstance(vae_model, type) else type(vae_model))(encoder, decoder)
    images = np.random.default_rng(0).random((batch, 28, 28, 1)).astype("float32")
    terms = model.loss_terms(images)
    if not isinstance(terms, dict) or not {"reconstruction_loss", "kl_loss"} <= set(terms):
        raise _fail("loss_terms must return a dict {'reconstruction_loss': ..., 'kl_loss': ...}.")
    values = {}
    for name in ("reconstruction_loss", "kl_loss"):
        value = np.asarray(terms[name], "float64")
        if value.size != 1:
            raise _fail(f"{name} has shape {value.shape}; it must be one number: average over the batch "
                        "with ops.mean(...).")
        values[name] = float(value.reshape(()))
    z_mean, z_log_var, _ = (np.asarray(part, "float64") for part in encoder(images))
    guess = np.clip(np.asarray(decoder(z_mean), "float64"), 1e-7, 1 - 1e-7)
    bce = -(images * np.log(guess) + (1 - images) * np.log(1 - guess))
    reconstruction = bce.sum(axis=(1, 2, 3)).mean()
    kl = (-0.5 * (1 + z_log_var - z_mean ** 2 - np.exp(z_log_var))).sum(axis=1).mean()

    def near(value, expected):
        return np.isclose(value, expected, rtol=1e-3, atol=1e-5)

    yours = values["reconstruction_loss"]
    if not near(yours, reconstruction):
        if near(yours, reconstruction / 784):
            hint = ("the per-pixel cross-entropy is averaged over the image; sum it over the pixels, "
                    "ops.sum(..., axis=(1, 2)), so it weighs against the KL term as keras-io's does")
        elif near(yours, reconstruction * batch):
            hint = "it is summed over the batch too; average over the batch with ops.mean"
        else:
            hint = ("use keras.losses.binary_crossentropy(images, reconstruction), summed over the "
                    "pixels (axis=(1, 2)) and averaged over the batch")
        raise _fail(f"reconstruction loss {yours:.4f}, expected {reconstruction:.4f}: {hint}.")
    yours = values["kl_loss"]
    if not near(yours, kl):
        if near(yours, -kl):
            hint = "the sign is wrong: the KL divergence is -0.5 * (1 + ...), never negative"
        elif near(yours, kl / z_mean.shape[1]):
            hint = "it is averaged over the latent dimensions; sum over them (axis=1), then average"
        elif near(yours, kl * batch):
            hint = "it is summed over the batch too; average over the batch with ops.mean"
        else:
            hint = ("kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), summed over "
                    "axis 1, averaged over the batch")
        raise _fail(f"KL loss {yours:.4f}, expected {kl:.4f}: {hint}.")
    return _passed(f"loss terms match keras-io's VAE: reconstruction {reconstruction:.2f} "
                   f"(summed over 784 pixels), KL {kl:.4f} on a fixed test batch.")


def mc_dropout(samples, mean, spread) -> bool:
    """Check a Monte Carlo dropout loop: ``samples`` [T, n, classes] from T calls of
    ``model(x, training=True)``, ``mean`` their average [n, classes] (rows summing to 1) and
    ``spread`` [n], the standard deviation over the passes of the probability of the class the
    mean picks (as ``workbench.uncertainty.mc_dropout`` computes it).

    Passes that agree exactly mean dropout was off (``training=False``, or ``model.predict``),
    and then there is no uncertainty to measure.
    """
    samples, mean, spread = (np.asarray(part, "float64") for part in (samples, mean, spread))
    if samples.ndim != 3:
        raise _fail(f"samples has shape {samples.shape}; stack the T passes with np.stack([...]) "
                    "to get (T, n, classes).")
    passes, count, classes = samples.shape
    if passes < 2:
        raise _fail(f"{passes} pass: uncertainty needs several (T = 30 in the lecture's method).")
    if np.allclose(samples, samples[:1]):
        raise _fail("all passes gave the same probabilities, so dropout was off: call "
                    "model(x, training=True) to keep it on at inference.")
    if mean.shape != (count, classes):
        raise _fail(f"mean has shape {mean.shape}, expected ({count}, {classes}): average over the "
                    "passes, samples.mean(axis=0).")
    if not np.allclose(mean.sum(axis=-1), 1.0, atol=1e-4):
        raise _fail("the rows of mean do not sum to 1: average the softmax probabilities of the passes.")
    if not np.allclose(mean, samples.mean(axis=0), atol=1e-6):
        raise _fail("mean is not the average of the passes: samples.mean(axis=0).")
    if spread.shape != (count,):
        raise _fail(f"spread has shape {spread.shape}, expected ({count},): one number per image, the "
                    "standard deviation over the passes of the probability of the class the mean picks.")
    chosen = mean.argmax(axis=-1)
    expected = samples[:, np.arange(count), chosen].std(axis=0)
    if not np.allclose(spread, expected, atol=1e-5):
        if np.allclose(spread, samples.max(axis=-1).std(axis=0), atol=1e-5):
            hint = "it follows each pass's own top class; take the class the mean picks, mean.argmax(-1)"
        else:
            hint = "samples[:, np.arange(n), mean.argmax(-1)].std(axis=0)"
        raise _fail(f"spread is not the spread of the chosen class's probability over the passes: {hint}.")
    if not spread.max() > 0:
        raise _fail("every spread is 0: dropout was off in the passes (training=True).")
    return _passed(f"{passes} passes over {count} images: mean probabilities sum to 1, spread from "
                   f"{spread.min():.3f} to {spread.max():.3f} (median {np.median(spread):.3f}).")


# --------------------------------------------------------------------------- lab 00: foundations


def _pair(result, names: str, call: str) -> tuple:
    """``result`` as the pair a function of the lab must return, e.g. (w, b)."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise _fail(f"{call} returned {type(result).__name__}; return the pair ({names}).")
    return tuple(result)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _rosenblatt(w, b, x, target):
    """Lecture 002's rule: output 1 if z = b + w.x >= 0; on a mistake add (target - output) * x."""
    output = 1 if b + np.dot(w, x) >= 0 else 0
    return w + (target - output) * x, b + (target - output)


def perceptron_rule(step) -> bool:
    """Check Rosenblatt's learning rule, ``step(w, b, x, target) -> (w, b)``, for one example.

    Lecture 002: the output is y = 1 if z = b + sum_i x_i w_i >= 0, else 0. A right output changes
    nothing; a wrong 0 adds the feature vector x to w, a wrong 1 subtracts it: w + (t - y) x, and
    the threshold's bias moves the same way, b + (t - y). Each case below tests one branch.
    """
    w, b = np.array([0.5, -1.0]), 0.25
    cases = [  # x, target, the branch it tests
        (np.array([1.0, 0.0]), 1, "right"), (np.array([0.0, 1.0]), 0, "right"),
        (np.array([0.0, 1.0]), 1, "wrong 0"), (np.array([1.0, 0.0]), 0, "wrong 1"),
    ]
    rng = np.random.default_rng(0)
    cases += [(rng.normal(size=3).round(2), int(rng.integers(0, 2)), "random") for _ in range(30)]
    for x, target, branch in cases:
        w0, b0 = (w.copy(), b) if branch != "random" else (rng.normal(size=3).round(2), 0.1)
        z = b0 + np.dot(w0, x)
        output = 1 if z >= 0 else 0
        expected_w, expected_b = _rosenblatt(w0, b0, x, target)
        call = "perceptron_step(w, b, x, target)"
        new_w, new_b = _pair(step(w0.copy(), b0, x.copy(), target), "w, b", call)
        new_w, new_b = np.asarray(new_w, float), float(np.asarray(new_b, float).reshape(-1)[0])
        if new_w.shape != w0.shape:
            raise _fail(f"the new w has shape {new_w.shape}, the old one {w0.shape}: add (t - y) * x to w.")
        if np.allclose(new_w, expected_w) and np.isclose(new_b, expected_b):
            continue
        where = f"for w = {w0}, b = {b0:g}, x = {x}, target {target} (z = {z:.2f}, output {output})"
        if output == target:
            raise _fail(f"{where} the output is right, and then the rule changes nothing; yours returns "
                        f"w = {new_w}, b = {new_b:g}. Update only on a mistake: w + (t - y) * x with y the "
                        "neuron's output (1 if z >= 0 else 0), not its weighted sum z.")
        if np.allclose(new_w, w0 - (target - output) * x):
            raise _fail(f"{where} the sign is swapped: a wrong 0 adds x to w, a wrong 1 subtracts it, "
                        "w + (t - y) * x.")
        if np.allclose(new_w, expected_w):
            raise _fail(f"{where} w is right but b is {new_b:g}, expected {expected_b:g}: the threshold "
                        "learns too, b + (t - y) (a weight whose input is always 1).")
        raise _fail(f"{where} expected w = {expected_w}, b = {expected_b:g}; yours w = {new_w}, b = "
                    f"{new_b:g}. Rosenblatt's rule adds the whole feature vector: w + (t - y) * x, "
                    "b + (t - y).")
    w0, b0, x = np.array([1.0, -1.0]), 0.0, np.array([1.0, 1.0])  # z = 0 exactly: the output is 1
    new_w, new_b = _pair(step(w0.copy(), b0, x.copy(), 0), "w, b", "perceptron_step(w, b, x, target)")
    if not np.allclose(np.asarray(new_w, float), w0 - x):
        raise _fail("at z = 0 exactly the lecture's neuron outputs 1 (y = 1 if z >= 0), so for target 0 "
                    "it is a mistake and x is subtracted: compare with >= 0, not > 0.")
    return _passed(f"Rosenblatt's rule: no change when right, w + x on a wrong 0, w - x on a wrong 1 "
                   f"({len(cases) + 1} cases).")


def logistic_regression(sigmoid, loss_and_gradient) -> bool:
    """Check lecture 001's logistic regression: ``sigmoid(z)`` and ``loss_and_gradient(theta, X, y)``
    returning (L, gradient) with f = sigmoid(X theta),
    L = -sum_i [y_i log f_i + (1 - y_i) log(1 - f_i)] and gradient = -sum_i x_i (y_i - f_i).
    ``X`` holds one example per row, its first column all ones (the bias is theta[0])."""
    z = np.array([-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0])
    s = np.asarray(sigmoid(z), float)
    if s.shape != z.shape:
        raise _fail(f"sigmoid(z) returned shape {s.shape} for z of shape {z.shape}: work elementwise, "
                    "1 / (1 + np.exp(-z)).")
    if np.allclose(s, _sigmoid(-z)):
        raise _fail("sigmoid(z) is 1 / (1 + e^(+z)), i.e. sigma(-z): the lecture's is 1 / (1 + np.exp(-z)), "
                    "which grows with z.")
    if not np.allclose(s, _sigmoid(z)):
        raise _fail(f"sigmoid({z.tolist()}) gave {np.round(s, 4).tolist()}: sigma(z) = 1 / (1 + np.exp(-z)), "
                    "with sigma(0) = 0.5.")
    rng = np.random.default_rng(1)
    m = 12
    X = np.column_stack([np.ones(m), rng.normal(size=(m, 2))])
    y = rng.integers(0, 2, m).astype(float)
    theta = rng.normal(size=3)
    f = _sigmoid(X @ theta)
    loss = -np.sum(y * np.log(f) + (1 - y) * np.log(1 - f))
    gradient = -X.T @ (y - f)
    result = _pair(loss_and_gradient(theta.copy(), X.copy(), y.copy()), "L, gradient",
                   "loss_and_gradient(theta, X, y)")
    yours = np.asarray(result[0], float)
    if yours.size != 1:
        raise _fail(f"L has shape {yours.shape}; the loss is one number, a sum over the examples.")
    yours = float(yours.reshape(()))
    if not np.isclose(yours, loss):
        if np.isclose(yours, -loss):
            hint = "the minus sign is missing: L = -sum(...) is positive, and smaller is better"
        elif np.isclose(yours, loss / m):
            hint = "the lecture's L sums over the m examples, yours averages: np.sum, not np.mean"
        else:
            hint = "L = -np.sum(y * np.log(f) + (1 - y) * np.log(1 - f)) with f = sigmoid(X @ theta)"
        raise _fail(f"L = {yours:.4f}, expected {loss:.4f}: {hint}.")
    yours = np.asarray(result[1], float)
    if yours.shape != theta.shape:
        raise _fail(f"the gradient has shape {yours.shape}; it needs one partial derivative per parameter, "
                    f"shape {theta.shape} like theta: -X.T @ (y - f).")
    if not np.allclose(yours, gradient):
        if np.allclose(yours, -gradient):
            hint = ("the sign is flipped: the gradient is -sum_i x_i (y_i - f(x_i)); with it flipped, "
                    "theta - eta * gradient climbs the loss")
        elif np.allclose(yours, gradient / m):
            hint = "the lecture's gradient sums over the examples, yours averages: drop the division by m"
        else:
            hint = "the gradient is -X.T @ (y - f): each example's x_i weighted by its error y_i - f(x_i)"
        raise _fail(f"gradient {np.round(yours, 4).tolist()}, expected "
                    f"{np.round(gradient, 4).tolist()}: {hint}.")
    return _passed(f"sigma(z) = 1 / (1 + e^-z); L = {loss:.4f} and its gradient -sum x_i (y_i - f(x_i)) "
                   f"match lecture 001 on {m} test examples.")


def logistic_model(model, inputs: int = 2) -> bool:
    """Check logistic regression as a Keras model: one Dense(1, activation="sigmoid") layer on
    ``inputs`` features, compiled with the lecture's loss L, binary cross-entropy summed over the
    examples. The model is tried with random weights (restored afterwards): its output must be
    sigma(w.x + b)."""
    import keras

    _require_model(model)
    if tuple(model.input_shape[1:]) != (inputs,):
        raise _fail(f"the model takes inputs of shape {tuple(model.input_shape[1:])}, the data have "
                    f"{inputs} features: start with keras.Input(shape=({inputs},)).")
    if tuple(model.output_shape[1:]) != (1,):
        raise _fail(f"the model outputs shape {tuple(model.output_shape[1:])}; logistic regression outputs "
                    "one number, the probability that the label is 1: Dense(1, activation='sigmoid').")
    weighted = [layer for layer in model.layers if layer.weights]
    if len(weighted) != 1 or model.count_params() != inputs + 1:
        raise _fail(f"logistic regression is one layer, sigma(theta^T x) with {inputs + 1} parameters "
                    f"({inputs} weights and a bias); yours has {model.count_params()} in {len(weighted)} "
                    "layer(s) with weights: keep only Dense(1, activation='sigmoid').")
    saved = model.get_weights()
    rng = np.random.default_rng(2)
    kernel, bias = rng.normal(size=(inputs, 1)), rng.normal(size=1)
    x = rng.normal(size=(16, inputs)).astype("float32")
    try:
        model.set_weights([kernel.astype("float32"), bias.astype("float32")])
        out = np.asarray(model(x), float).reshape(-1)
    finally:
        model.set_weights(saved)
    linear = (x @ kernel + bias).reshape(-1)
    if np.allclose(out, linear, atol=1e-5):
        raise _fail("the output is theta^T x itself, any real number: add activation='sigmoid' to turn it "
                    "into a probability.")
    if np.allclose(out, 1.0):
        raise _fail("every output is 1: a softmax over a single unit always is. Use activation='sigmoid'.")
    if not np.allclose(out, _sigmoid(linear), atol=1e-5):
        raise _fail("the output is not sigma(w.x + b): use Dense(1, activation='sigmoid') and nothing else.")
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise _fail("the model is not compiled yet: model.compile(optimizer=..., "
                    "loss=keras.losses.BinaryCrossentropy(reduction='sum')).")
    name = _loss_name(model.loss)
    if name != "binary_crossentropy":
        raise _fail(f"loss {name!r}: the lecture's L(theta) = -sum[y log f + (1 - y) log(1 - f)] is the "
                    "binary cross-entropy, keras.losses.BinaryCrossentropy(reduction='sum').")
    if getattr(model.loss, "from_logits", False):
        raise _fail("from_logits=True applies a second sigmoid to an output that already is a probability: "
                    "leave from_logits at False.")
    reduction = model.loss.reduction if isinstance(model.loss, keras.losses.Loss) else "sum_over_batch_size"
    if reduction != "sum":
        raise _fail(f"the loss is reduced with {reduction!r}, which averages over the batch; the lecture's L "
                    "sums over the examples: keras.losses.BinaryCrossentropy(reduction='sum').")
    return _passed(f"logistic regression: one Dense(1, sigmoid) layer, {inputs + 1} parameters, output "
                   "sigma(w.x + b), loss summed binary cross-entropy.")


XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
XOR_TARGETS = np.array([0, 1, 1, 0])
LECTURE_XOR_OUTPUTS = (0.03, 0.96, 0.97, 0.03)  # lecture 001, "Example: XOR"


def xor(model) -> bool:
    """Check that ``model`` computes XOR: its outputs for (0, 0), (0, 1), (1, 0), (1, 1) fall on the
    right side of 0.5. No single layer can (no straight line separates XOR); a failure says whether
    the hidden layer is missing, linear, stuck in a local minimum or undertrained."""
    _require_model(model)
    if tuple(model.input_shape[1:]) != (2,) or tuple(model.output_shape[1:]) != (1,):
        raise _fail(f"the model maps {tuple(model.input_shape[1:])} to {tuple(model.output_shape[1:])}; XOR "
                    "takes two inputs and gives one output: keras.Input(shape=(2,)) ... Dense(1, "
                    "activation='sigmoid').")
    out = np.asarray(model(XOR_INPUTS), float).reshape(-1)
    shown = " ".join(f"{value:.2f}" for value in out)
    right = int(np.sum((out > 0.5) == XOR_TARGETS.astype(bool)))
    if right == 4:
        lecture = " ".join(f"{value:.2f}" for value in LECTURE_XOR_OUTPUTS)
        return _passed(f"XOR solved: outputs {shown} for (0,0) (0,1) (1,0) (1,1); lecture 001: {lecture}.")
    weighted = [layer for layer in model.layers if layer.weights]
    where = f"outputs {shown} for targets 0 1 1 0 ({right} of 4 right)"
    if len(weighted) < 2:
        raise _fail(f"{where}. A single layer draws one straight line, and no line separates XOR (at best 3 "
                    "of 4): add a hidden layer, e.g. Dense(4, activation='sigmoid'), before the output.")
    linear = [layer.name for layer in weighted[:-1]
              if getattr(getattr(layer, "activation", None), "__name__", "") == "linear"]
    if linear:
        raise _fail(f"{where}. The hidden layer {linear[0]!r} has no activation, and a linear layer "
                    "followed by a linear layer is still one straight line: give it activation='sigmoid'.")
    if np.any(np.abs(out - 0.5) < 0.05):
        raise _fail(f"{where}. Outputs near 0.5 mean training is stuck in a local minimum: rebuild the model "
                    "after another training.seed_everything(...), or give it more hidden units.")
    raise _fail(f"{where}: not trained enough; train for more epochs or with a larger learning rate.")


def softmax_cross_entropy(softmax, cross_entropy) -> bool:
    """Check lecture 002's ``softmax(z)`` (each row of logits z to probabilities) and
    ``cross_entropy(y, t)``, C = -sum_j t_j log y_j for every example (a vector, one C per row),
    with y the probabilities and t the one-hot targets."""
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 4)) * 3
    y = np.asarray(softmax(z.copy()), float)
    if y.shape != z.shape:
        raise _fail(f"softmax(z) returned shape {y.shape} for z of shape {z.shape}: one probability per "
                    "example and class.")
    if not np.allclose(y, _softmax(z)):
        if np.allclose(y.sum(axis=0), 1.0):
            hint = ("each column sums to 1: normalise every row (one example) over its classes, "
                    "np.sum(..., axis=-1, keepdims=True)")
        elif np.allclose(y.sum(axis=-1), 1.0):
            hint = "the rows sum to 1 but the values differ: y_i = e^(z_i) / sum_j e^(z_j)"
        else:
            hint = ("the rows do not sum to 1: divide np.exp(z) by its sum over the classes, "
                    "np.sum(..., axis=-1, keepdims=True)")
        raise _fail(f"softmax is not e^(z_i) / sum_j e^(z_j): {hint}.")
    large = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0]])
    with np.errstate(all="ignore"):
        y_large = np.asarray(softmax(large.copy()), float)
    if not np.all(np.isfinite(y_large)) or not np.allclose(y_large, _softmax(large)):
        raise _fail(f"softmax([1000, 999, 998]) gave {y_large[0]}: e^1000 overflows. Subtract each row's "
                    "largest logit first, z - z.max(axis=-1, keepdims=True); the probabilities stay the "
                    "same.")
    probabilities = _softmax(z)
    targets = np.eye(4)[rng.integers(0, 4, 5)]
    expected = -np.sum(targets * np.log(probabilities), axis=-1)
    with np.errstate(all="ignore"):
        c = np.asarray(cross_entropy(probabilities.copy(), targets.copy()), float)
    if c.shape != expected.shape:
        raise _fail(f"cross_entropy(y, t) returned shape {c.shape} for 5 examples: return one C per example, "
                    "shape (5,), summing over the classes only (axis=-1).")
    if not np.all(np.isfinite(c)):
        raise _fail("cross_entropy(y, t) is not finite: the logarithm is of the probabilities y (the first "
                    "argument), never of the 0s of the one-hot targets t.")
    if not np.allclose(c, expected):
        if np.allclose(c, -expected):
            hint = "the minus sign is missing: C = -sum_j t_j log y_j is positive"
        else:
            hint = "C = -np.sum(t * np.log(y), axis=-1): the negative log probability of the target class"
        raise _fail(f"C = {np.round(c, 4).tolist()}, expected {np.round(expected, 4).tolist()}: {hint}.")
    return _passed("softmax rows sum to 1 (also for logits near 1000); C = -sum t log y matches on 5 "
                   "examples.")


def cross_entropy_gradient(gradient, tolerance: float = 1e-6) -> bool:
    """Check ``gradient(z, t)``, the derivative of the cross-entropy of softmax(z) with respect to the
    logits z (lecture 002: dC/dz_i = y_i - t_i), against TensorFlow's automatic differentiation."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 5)) * 2
    t = np.eye(5)[rng.integers(0, 5, 6)]
    logits = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        cost = -tf.reduce_sum(t * tf.math.log(tf.nn.softmax(logits)))  # row n depends on z_n only
    expected = tape.gradient(cost, logits).numpy()
    yours = np.asarray(gradient(z.copy(), t.copy()), float)
    if yours.shape != z.shape:
        raise _fail(f"gradient(z, t) returned shape {yours.shape}; dC/dz has the shape of z, {z.shape}: one "
                    "partial derivative per logit.")
    difference = float(np.abs(yours - expected).max())
    if difference <= tolerance:
        return _passed(f"dC/dz = y - t agrees with tf.GradientTape to {difference:.1e} on {len(z)} examples.")
    y = _softmax(z)
    if np.allclose(yours, t - y):
        hint = "the sign is flipped: dC/dz_i = y_i - t_i (raising the target's logit lowers C)"
    elif np.allclose(yours, y * (1 - y)):
        hint = ("y_i (1 - y_i) is dy_i/dz_i, one term of the chain rule; summing dC/dy_j dy_j/dz_i over "
                "all j gives y_i - t_i")
    elif np.allclose(yours, z - t):
        hint = "y is softmax(z), the probabilities, not the logits z"
    elif np.allclose(yours, (y - t) / len(z)):
        hint = "this is averaged over the examples; return each example's own y - t"
    else:
        hint = "dC/dz = softmax(z) - t"
    raise _fail(f"dC/dz differs from tf.GradientTape's by up to {difference:.2g}: {hint}.")


def _momentum_variants() -> dict:
    """Slips in SGD with momentum, each ``(w, v, g, lr, momentum, decay) -> (w, v)``, with what to fix."""
    return {
        "w is updated with the old v: compute v first, then w_{i+1} = w_i + v_{i+1} with the new v":
            lambda w, v, g, lr, m, d: (w + v, m * v - d * lr * w - lr * g),
        "the 0.9 v term is missing (that is plain SGD): v = momentum * v - ...":
            lambda w, v, g, lr, m, d: (w - d * lr * w - lr * g, -d * lr * w - lr * g),
        "this is Nesterov's momentum; the lecture's (Keras' default) adds v itself, w = w + v":
            lambda w, v, g, lr, m, d: (w + m * (m * v - lr * (g + d * w)) - lr * (g + d * w),
                                       m * v - lr * (g + d * w)),
        "the decay term is 0.0005 * epsilon * w: multiply weight_decay by the learning rate too":
            lambda w, v, g, lr, m, d: (w + m * v - d * w - lr * g, m * v - d * w - lr * g),
        "the decay is taken from w directly (Keras' decoupled weight_decay); in the lecture's rule it "
        "is inside v, so the momentum carries it too":
            lambda w, v, g, lr, m, d: (w - d * lr * w + m * v - lr * g, m * v - lr * g),
        "weight_decay is ignored: subtract weight_decay * learning_rate * w inside v":
            lambda w, v, g, lr, m, d: (w + m * v - lr * g, m * v - lr * g),
        "the decay term has the wrong sign: v = momentum * v - weight_decay * learning_rate * w - ...":
            lambda w, v, g, lr, m, d: (w + m * v + d * lr * w - lr * g, m * v + d * lr * w - lr * g),
        "the gradient is added: v = momentum * v - ... - learning_rate * gradient goes downhill":
            lambda w, v, g, lr, m, d: (w + m * v - d * lr * w + lr * g, m * v - d * lr * w + lr * g),
    }


def momentum_sgd(step, steps: int = 6) -> bool:
    """Check lecture 002's SGD with momentum, ``step(w, v, gradient, learning_rate, momentum=0.9,
    weight_decay=0.0) -> (w, v)``:  v = momentum v - weight_decay lr w - lr gradient;  w = w + v.

    Several steps on a small least-squares problem are compared with Keras: plain
    ``keras.optimizers.SGD(learning_rate, momentum)``, and with weight decay the same optimizer on
    the loss plus (weight_decay / 2) * sum(w^2), whose gradient adds weight_decay * w. A mismatch
    is compared with the usual slips to name the one made.
    """
    import inspect

    import keras
    import tensorflow as tf

    try:
        zeros = np.zeros(3)
        inspect.signature(step).bind(zeros, zeros, zeros, 0.1, momentum=0.9, weight_decay=0.0)
    except (TypeError, ValueError) as error:
        raise _fail("momentum_step must take (w, v, gradient, learning_rate, momentum=0.9, "
                    f"weight_decay=0.0): {error}.") from None
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=8)
    w0 = np.array([0.5, -0.3, 0.8])

    def gradient(w):  # of mean((X w - y)^2)
        return 2 * X.T @ (X @ w - y) / len(y)

    def keras_run(lr, m, decay):
        variable = keras.Variable(w0.astype("float32"))
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=m)
        X32, y32 = tf.constant(X, "float32"), tf.constant(y, "float32")
        ws = []
        for _ in range(steps):
            with tf.GradientTape() as tape:
                residual = tf.linalg.matvec(X32, variable) - y32
                loss = tf.reduce_mean(residual ** 2) + decay / 2 * tf.reduce_sum(variable ** 2)
            optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
            ws.append(np.asarray(variable, float))
        return np.array(ws), np.asarray(optimizer.momentums[0], float)

    def run(update, lr, m, decay):
        w, v, ws, vs = w0.copy(), np.zeros(3), [], []
        for _ in range(steps):
            result = _pair(update(w, v, gradient(w), lr, m, decay), "w, v",
                           "momentum_step(w, v, gradient, learning_rate, momentum, weight_decay)")
            w, v = (np.array(part, float) for part in result)
            if w.shape != w0.shape or v.shape != w0.shape:
                raise _fail(f"momentum_step returned w of shape {w.shape} and v of shape {v.shape}; both "
                            f"have the shape of w, {w0.shape}.")
            ws.append(w.copy())
            vs.append(v.copy())
        return np.array(ws), np.array(vs)

    def yours(w, v, g, lr, m, decay):
        return step(w.copy(), v.copy(), g.copy(), lr, momentum=m, weight_decay=decay)

    settings = ((0.1, 0.9, 0.0, "keras.optimizers.SGD(0.1, momentum=0.9)"),
                (0.05, 0.5, 0.0, "keras.optimizers.SGD(0.05, momentum=0.5)"),
                (0.1, 0.9, 0.05, "SGD(0.1, momentum=0.9) on the loss + 0.025 * sum(w^2)"),
                (0.01, 0.9, 0.0005, "SGD(0.01, momentum=0.9) on the loss + 0.00025 * sum(w^2)"))
    for lr, m, decay, keras_form in settings:
        ws, vs = run(yours, lr, m, decay)
        expected_ws, expected_v = keras_run(lr, m, decay)
        if np.allclose(ws, expected_ws, rtol=0, atol=1e-6):
            if np.allclose(vs[-1], -expected_v, rtol=0, atol=1e-6) and not np.allclose(expected_v, 0):
                raise _fail("your w is right but v has the opposite sign: in the lecture's rule v is the "
                            "step itself, v = momentum * v - ... - learning_rate * gradient, then w = w + v.")
            if not np.allclose(vs[-1], expected_v, rtol=0, atol=1e-6):
                raise _fail(f"w matches Keras but v ends at {np.round(vs[-1], 6)}, Keras' momentum at "
                            f"{np.round(expected_v, 6)}: return the new v with the new w.")
            continue
        setting = f"learning_rate={lr:g}, momentum={m:g}, weight_decay={decay:g}"
        for why, variant in _momentum_variants().items():
            if np.allclose(ws, run(variant, lr, m, decay)[0], rtol=0, atol=1e-9):
                raise _fail(f"with {setting}: {why}.")
        if m != 0.9 and np.allclose(ws, run(yours, lr, 0.9, decay)[0], rtol=0, atol=1e-9):
            raise _fail(f"with {setting} the steps are those of momentum 0.9: use the momentum argument "
                        "instead of a fixed 0.9.")
        step_at = int(np.argmax(np.abs(ws - expected_ws).max(axis=1) > 1e-6))
        raise _fail(f"with {setting}, step {step_at + 1} gives w = {np.round(ws[step_at], 6)}, {keras_form} "
                    f"gives {np.round(expected_ws[step_at], 6)}: v = momentum * v - weight_decay * "
                    "learning_rate * w - learning_rate * gradient, then w = w + v.")
    return _passed(f"{steps} steps equal Keras' SGD with momentum (to 1e-6), without weight decay and "
                   "with it (the decay term = an L2 penalty (weight_decay / 2) * sum(w^2) in the loss).")


CONV_SIZE_CASES = (  # W, F, S, P, output size, where it comes from
    (5, 3, 2, 1, 3, "lecture 002's 1-D example"),
    (32, 5, 1, 0, 28, "LeNet-5's C1"),
    (28, 3, 1, 0, 26, "lab 02's Conv2D(32, (3, 3))"),
    (5, 3, 1, 0, 3, "lecture 004's 5x5 example"),
    (28, 2, 2, 0, 14, "2x2 pooling with stride 2"),
    (227, 11, 4, 0, 55, "AlexNet's first layer"),
    (32, 3, 1, 1, 32, "3x3 with padding 1 ('same')"),
    (6, 3, 2, 0, 2, "a stride that does not fit evenly"),
)


def conv_output_size(size) -> bool:
    """Check ``size(W, F, S, P)`` = (W - F + 2P) / S + 1 (lecture 002), rounded down as Keras does
    when the stride does not fit evenly, on the lecture's and the labs' cases."""
    import math

    slips = {
        "the +1 is missing: a filter as wide as the input still fits once":
            lambda W, F, S, P: (W - F + 2 * P) // S,
        "padding adds P on both sides: 2P, not P": lambda W, F, S, P: (W - F + P) // S + 1,
        "round down: where a whole filter no longer fits there is no output (Keras drops it), so // not a "
        "ceiling": lambda W, F, S, P: math.ceil((W - F + 2 * P) / S) + 1,
        "only W - F + 2P is divided by S; the +1 comes after: (W - F + 2P) // S + 1":
            lambda W, F, S, P: (W - F + 2 * P) // (S + 1),
    }
    results = {case: size(*case[:4]) for case in CONV_SIZE_CASES}
    for (W, F, S, P, _, where), value in results.items():
        if isinstance(value, (float, np.floating)) and float(value) != int(value):
            raise _fail(f"size(W={W}, F={F}, S={S}, P={P}) = {value} ({where}): a layer has a whole "
                        "number of outputs; round down with integer division, (W - F + 2 * P) // S + 1.")
    for (W, F, S, P, _, _where), value in results.items():
        if not isinstance(value, (int, np.integer)):
            raise _fail(f"size(W={W}, F={F}, S={S}, P={P}) returned {value!r} ({type(value).__name__}); "
                        "return an int: (W - F + 2 * P) // S + 1.")
    for (W, F, S, P, expected, where), value in results.items():
        if value != expected:
            for why, slip in slips.items():
                if all(slip(*case[:4]) == results[case] for case in CONV_SIZE_CASES):
                    raise _fail(f"size(W={W}, F={F}, S={S}, P={P}) = {value}, expected {expected} "
                                f"({where}): {why}.")
            raise _fail(f"size(W={W}, F={F}, S={S}, P={P}) = {value}, expected {expected} ({where}): "
                        "(W - F + 2P) // S + 1.")
    return _passed(f"(W - F + 2P) // S + 1 right on {len(CONV_SIZE_CASES)} cases, e.g. lecture 002's "
                   "W=5, F=3, S=2, P=1 -> 3.")


# Lecture 004's worked examples.
LECTURE_CONV_INPUT = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2],
                               [2, 0, 0, 0, 1]], "float32")
LECTURE_KERNEL = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], "float32")
LECTURE_CONV_OUTPUT = np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]], "float32")
LECTURE_POOL_INPUT = np.array([[1, 3, 5, 3], [4, 2, 3, 1], [3, 1, 1, 3], [0, 1, 0, 4]], "float32")
LECTURE_POOL_OUTPUT = np.array([[4, 5], [3, 4]], "float32")


def _cross_correlate(image, kernel):
    """Slide ``kernel`` over ``image`` without flipping it, no padding, stride 1 (what Conv2D does)."""
    rows, cols = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    return np.array([[np.sum(image[r:r + kernel.shape[0], c:c + kernel.shape[1]] * kernel)
                      for c in range(cols)] for r in range(rows)])


def lecture_convolution(output) -> bool:
    """Check that ``output`` is exactly lecture 004's feature map, [[12, 12, 17], [10, 17, 19],
    [9, 6, 14]] (any leading or trailing axes of length 1 are ignored)."""
    out = np.squeeze(np.asarray(output, float))
    if out.shape == (5, 5):
        raise _fail("the feature map is 5x5: padding='same' pads the input; the lecture's kernel only visits "
                    "the positions where it fits, 5 - 3 + 1 = 3: padding='valid' (the default).")
    if out.shape != (3, 3):
        raise _fail(f"the feature map has shape {out.shape}, expected 3x3: one 3x3 kernel (Conv2D(1, 3)) "
                    "on the 5x5 input reshaped to (1, 5, 5, 1).")
    if np.array_equal(out, LECTURE_CONV_OUTPUT):
        return _passed("Conv2D reproduces lecture 004's feature map exactly: [[12, 12, 17], [10, 17, 19], "
                       "[9, 6, 14]].")
    if np.allclose(out, _cross_correlate(LECTURE_CONV_INPUT, LECTURE_KERNEL[::-1, ::-1])):
        hint = ("that is the textbook convolution, with the kernel flipped; Conv2D (and the lecture's "
                "figure) slides the kernel unflipped (cross-correlation): set it as printed")
    elif np.allclose(out, _cross_correlate(LECTURE_CONV_INPUT, LECTURE_KERNEL.T)):
        hint = "the kernel is transposed: kernel[row, column] goes to weights[row, column, 0, 0]"
    elif np.allclose(out, LECTURE_CONV_OUTPUT.T):
        hint = "rows and columns are swapped: reshape the input row by row, x.reshape(1, 5, 5, 1)"
    else:
        hint = ("set the lecture's kernel before calling the layer, "
                "conv.set_weights([kernel.reshape(3, 3, 1, 1)]), with use_bias=False so that nothing is "
                "added")
    shown = out.astype(int).tolist() if np.all(out == out.round()) else out.tolist()
    raise _fail(f"the feature map is {shown}, the lecture's {LECTURE_CONV_OUTPUT.astype(int).tolist()}: "
                f"{hint}.")


def lecture_pooling(output) -> bool:
    """Check that ``output`` is exactly lecture 004's max pooling example, [[4, 5], [3, 4]]."""
    out = np.squeeze(np.asarray(output, float))
    if out.shape == (3, 3):
        raise _fail("the pooled map is 3x3: the windows moved by 1. The lecture's 2x2 windows move by 2 "
                    "and do not overlap: MaxPooling2D(pool_size=2, strides=2) (strides defaults to "
                    "pool_size).")
    if out.shape != (2, 2):
        raise _fail(f"the pooled map has shape {out.shape}, expected 2x2: MaxPooling2D(2) on the 4x4 input "
                    "reshaped to (1, 4, 4, 1).")
    if np.array_equal(out, LECTURE_POOL_OUTPUT):
        return _passed("MaxPooling2D reproduces lecture 004's example exactly: [[4, 5], [3, 4]].")
    if np.allclose(out, [[2.5, 3.0], [1.25, 2.0]]):
        hint = "that is average pooling (the mean of each window): use MaxPooling2D"
    elif np.array_equal(out, LECTURE_POOL_OUTPUT.T):
        hint = "rows and columns are swapped: reshape the input row by row, x.reshape(1, 4, 4, 1)"
    else:
        hint = "each output is the largest of one 2x2 window: MaxPooling2D(2)"
    raise _fail(f"the pooled map is {out.tolist()}, the lecture's "
                f"{LECTURE_POOL_OUTPUT.astype(int).tolist()}: {hint}.")


# LeNet-5 in Keras: the layers with weights, in order: name, layer, output shape(s), parameters.
LENET5_STAGES = (
    ("C1", "Conv2D(6, 5)", ((28, 28, 6),), 156),
    ("C3", "Conv2D(16, 5)", ((10, 10, 16),), 2_416),
    ("C5", "Conv2D(120, 5) (or Flatten() and Dense(120))", ((1, 1, 120), (120,)), 48_120),
    ("F6", "Dense(84)", ((84,),), 10_164),
    ("output", "Dense(10, activation='softmax')", ((10,),), 850),
)
# LeCun et al. (1998), section II-B: trainable parameters per layer. C3 connects its 16 maps to 3, 4
# or 6 of S2's maps (Table I, 60 connections), S2 and S4 have a coefficient and a bias per map, and
# the output layer's 10 RBF units each hold an 84-vector (no bias).
LENET5_PAPER = {"C1": 156, "S2": 12, "C3": 1_516, "S4": 32, "C5": 48_120, "F6": 10_164, "output": 840}


def lenet5(model) -> bool:
    """Check LeNet-5 built in Keras: 32x32x1 input, C1 6@5x5, S2 2x2 subsampling, C3 16@5x5, S4, C5 120,
    F6 84, 10 outputs; layer by layer (output shape and parameters of the layers with weights)."""
    _require_model(model)
    if tuple(model.input_shape[1:]) != (32, 32, 1):
        raise _fail(f"the model takes {tuple(model.input_shape[1:])}; LeNet-5 reads 32x32 grey images: "
                    "keras.Input(shape=(32, 32, 1)).")
    weighted = [layer for layer in model.layers if layer.weights]
    for position, (name, layer_text, shapes, params) in enumerate(LENET5_STAGES):
        if position >= len(weighted):
            raise _fail(f"your model has {len(weighted)} layers with weights, LeNet-5 five (C1, C3, C5, F6, "
                        f"output): {name} is missing, {layer_text}.")
        layer = weighted[position]
        shape = tuple(layer.output.shape[1:])
        if shape not in shapes or layer.count_params() != params:
            hint = ""
            if name == "C1" and shape == (32, 32, 6):
                hint = " padding='same' keeps 32x32; LeNet-5's C1 maps are 32 - 5 + 1 = 28 wide (no padding)."
            elif name == "C3" and shape[:2] == (24, 24):
                hint = " S2 is missing: subsample after C1 (AveragePooling2D(2)), 28x28 -> 14x14."
            elif name == "C5" and shape[:2] == (6, 6):
                hint = " S4 is missing: subsample after C3, 10x10 -> 5x5."
            raise _fail(f"{name} should be {layer_text}, output {shapes[0]} with {params:,} parameters; "
                        f"yours ({layer.name}) outputs {shape} with {layer.count_params():,}.{hint}")
    if len(weighted) > len(LENET5_STAGES):
        raise _fail(f"your model has {len(weighted)} layers with weights, LeNet-5 five (C1, C3, C5, F6, "
                    f"output): remove {weighted[len(LENET5_STAGES)].name!r}.")
    if getattr(weighted[-1].activation, "__name__", "") != "softmax":
        raise _fail("the output layer should give ten class probabilities: Dense(10, activation='softmax').")
    return _passed(f"LeNet-5 in Keras: C1 156, C3 2,416, C5 48,120, F6 10,164, output 850 parameters; "
                   f"{model.count_params():,} in total.")


def lenet5_paper_counts(counts) -> bool:
    """Check the trainable parameters of LeNet-5 per layer as LeCun et al. (1998) describe them:
    ``counts`` maps "C1", "S2", "C3", "S4", "C5", "F6" and "output" to numbers."""
    if not isinstance(counts, dict):
        raise _fail(f"counts is a {type(counts).__name__}; make it a dict, layer name -> parameters.")
    missing = [name for name in LENET5_PAPER if name not in counts]
    if missing:
        raise _fail(f"counts lacks {missing}: give every layer, {list(LENET5_PAPER)}.")
    advice = {
        ("C3", 2_416): "that is C3 connected to all 6 S2 maps (as Keras' Conv2D is); Table I connects "
                       "each C3 map to only 3, 4 or 6 of them, 60 connections in all: 25 * 60 + 16",
        ("C3", 1_500): "each C3 map also has one bias: + 16",
        ("C3", 60): "every connection of Table I carries a 5x5 kernel, 25 weights, and each map a bias",
        ("S2", 0): "LeNet-5's subsampling is trainable: the four inputs are added, multiplied by a trainable "
                   "coefficient and a trainable bias is added, one pair per map: 2 * 6",
        ("S4", 0): "as in S2, one coefficient and one bias per map: 2 * 16",
        ("S2", 6): "a coefficient and a bias per map: 2 * 6",
        ("S4", 16): "a coefficient and a bias per map: 2 * 16",
        ("C5", 48_000): "each of the 120 units also has a bias: (25 * 16 + 1) * 120",
        ("F6", 10_080): "each of the 84 units also has a bias: (120 + 1) * 84",
        ("output", 850): "the output units are RBFs, a distance to an 84-number vector each, with no "
                         "bias: 84 * 10",
        ("output", 0): "the ten RBF units hold an 84-number vector each (set by hand, and at least initially "
                       "kept fixed): 84 * 10",
    }
    for name, expected in LENET5_PAPER.items():
        value = counts[name]
        if value != expected:
            hint = advice.get((name, value), "see the layer's description above")
            raise _fail(f"{name}: {value!r}, the paper's {expected:,}: {hint}.")
    total = sum(LENET5_PAPER.values())
    return _passed(f"the paper's counts: {', '.join(f'{k} {v:,}' for k, v in LENET5_PAPER.items())}; "
                   f"{total:,} in total ({total - LENET5_PAPER['output']:,} without the RBF output).")


# --------------------------------------------------------------------------- lab 11: text
# Lab 11 reads raw review text: a TextVectorization layer learnt on the training text, a tf.data
# pipeline of (ids, label) batches, lecture 003's BiLSTM ending in a logit, Adam with lecture 002's
# gradient norm clipping, and the end-to-end model that takes raw strings, saved and reloaded.

_TEXT_VOCABULARIES: dict = {}  # (vocab_size, digest of the texts) -> vocabulary: two checks adapt once


def _vocabulary(layer) -> list[str]:
    return [str(token) for token in layer.get_vocabulary()]


def _learnt_vocabulary(texts, vocab_size: int) -> list[str]:
    """The vocabulary ``workbench.text`` learns from ``texts``, the one the batch lab trains with."""
    import hashlib

    import tensorflow as tf

    from workbench import text

    texts = np.asarray(texts, dtype=object)
    key = (vocab_size, hashlib.sha256("\0".join(map(str, texts)).encode()).hexdigest())
    if key not in _TEXT_VOCABULARIES:
        layer = text.vectorizer(vocab_size, 1)
        layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(512))
        _TEXT_VOCABULARIES[key] = _vocabulary(layer)
    return _TEXT_VOCABULARIES[key]


def _first_difference(mine: list[str], expected: list[str]) -> str:
    for position, (a, b) in enumerate(zip(mine, expected, strict=False)):
        if a != b:
            return f"id {position} is {a!r} in yours, {b!r} in the expected one"
    return f"yours has {len(mine):,} entries, the expected one {len(expected):,}"


def text_vectorizer(vectorizer, train_text, vocab_size: int, sequence_length: int, test_text=None) -> bool:
    """Check lab 11's ``TextVectorization``: integer ids, ``vocab_size`` of them, ``sequence_length``
    per review, the reviews' own standardization (HTML line breaks dropped), and a vocabulary
    learnt from the training text and nothing else (compared with one adapted here)."""
    import keras

    if not isinstance(vectorizer, keras.layers.TextVectorization):
        raise _fail(f"vectorizer is a {type(vectorizer).__name__}; make it a "
                    "keras.layers.TextVectorization(...) (or text.vectorizer(vocab_size, sequence_length)).")
    config = vectorizer.get_config()
    if config.get("output_mode") != "int":
        raise _fail(f"output_mode={config.get('output_mode')!r} turns a review into one vector and loses the "
                    "order of its words; the LSTMs read the words one after the other: output_mode='int'.")
    if config.get("max_tokens") != vocab_size:
        raise _fail(f"max_tokens={config.get('max_tokens')}, expected vocab_size = {vocab_size}: the "
                    "vocabulary keeps the vocab_size most frequent words (ids 0 and 1 included); "
                    "max_tokens=vocab_size.")
    if config.get("output_sequence_length") != sequence_length:
        raise _fail(f"output_sequence_length={config.get('output_sequence_length')}, expected "
                    f"sequence_length = {sequence_length}: every review becomes exactly that many ids, cut "
                    "or padded with 0 (without it each batch is padded to its own longest review).")
    vocabulary = _vocabulary(vectorizer)
    if len(vocabulary) <= 2:
        raise _fail("the vocabulary is empty: learn it from the training text, "
                    "vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_text).batch(512)).")
    frequent = vocabulary[2:102]
    if "br" in frequent:
        raise _fail(f"'br' is word {vocabulary.index('br')} of the vocabulary: the reviews' HTML line breaks "
                    "('<br />') were kept. Standardize with standardize=text.standardize_review, which drops "
                    "them before lower-casing and stripping punctuation.")
    raw = [word for word in frequent if word != word.lower() or any(not c.isalnum() for c in word)]
    if raw:
        raise _fail(f"the vocabulary holds {raw[0]!r}: the text was not standardized (lower case, no "
                    "punctuation), so 'Film', 'film.' and 'film' get three ids; "
                    "standardize=text.standardize_review.")
    expected = _learnt_vocabulary(train_text, vocab_size)
    if vocabulary != expected:
        if test_text is not None:
            if vocabulary == _learnt_vocabulary(test_text, vocab_size):
                raise _fail("the vocabulary was learnt from the test reviews: adapt on train_text.")
            if vocabulary == _learnt_vocabulary(np.concatenate([np.asarray(train_text, object),
                                                                np.asarray(test_text, object)]), vocab_size):
                raise _fail("the vocabulary was learnt from the training AND the test reviews: the test set "
                            "must stay unseen until it is tested on (its words would shape the ids, a leak, "
                            "and a deployed model cannot learn from reviews it has not met). Adapt on "
                            "train_text only.")
        difference = _first_difference(vocabulary, expected)
        raise _fail(f"the vocabulary is not the one learnt from all of train_text ({difference}): adapt "
                    "once, on the whole training text, "
                    "vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_text).batch(512)).")
    return _passed(f"TextVectorization learnt on the {len(train_text):,} training reviews: "
                   f"{len(vocabulary):,} ids ('' = 0 padding, '[UNK]' = 1, then {vocabulary[2]!r}, "
                   f"{vocabulary[3]!r}, ...), {sequence_length} per review.")


def _vectorized(vectorizer, texts, chunk: int = 1024) -> np.ndarray:
    texts = np.asarray(texts, dtype=object)
    return np.concatenate([np.asarray(vectorizer(texts[start:start + chunk]))
                           for start in range(0, len(texts), chunk)]).astype("int64")


def text_pipeline(dataset, vectorizer, train_text, train_labels, batch_size: int = 32) -> bool:
    """Check lab 11's training pipeline: batches of ``batch_size`` (token ids, label) pairs, the ids
    ``vectorizer(review)`` of training reviews with their own labels, the reviews shuffled before
    batching, and the pipeline ending in ``prefetch``.

    Every row of the first batch is looked up among the vectorized training reviews, so the pairs
    are checked, not only the shapes."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise _fail(f"train_ds is a {type(dataset).__name__}; build a tf.data.Dataset, starting from "
                    "tf.data.Dataset.from_tensor_slices((train_text, train_labels)).")
    count, length = len(train_text), vectorizer.get_config()["output_sequence_length"]
    batches = iter(dataset)
    batch, following = next(batches), next(batches, None)
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise _fail("each element must be a pair (token ids, labels): slice the two arrays together, "
                    "from_tensor_slices((train_text, train_labels)), and map (reviews, labels) -> "
                    "(vectorizer(reviews), labels).")
    ids, labels = batch
    if ids.dtype == tf.string:
        raise _fail("the pipeline gives raw strings; the model reads token ids: map the vectorizer over the "
                    "pairs, .map(lambda reviews, labels: (vectorizer(reviews), labels)).")
    ids, labels = np.asarray(ids), np.asarray(labels)
    if ids.ndim == 1 and labels.ndim == 2:
        raise _fail("the pair is the wrong way round: (token ids, label), the input first.")
    if ids.ndim == 1:
        raise _fail(f"an element holds one review ({ids.shape[0]} ids): batch the pairs, "
                    f".batch({batch_size}).")
    if not np.issubdtype(ids.dtype, np.integer):
        raise _fail(f"the ids have dtype {ids.dtype}: use the TextVectorization layer's own int64 ids "
                    "(output_mode='int'), without casting them.")
    if ids.shape != (batch_size, length):
        raise _fail(f"the first batch of ids has shape {ids.shape}, expected ({batch_size}, {length}): "
                    f".batch({batch_size}) once, and the vectorizer's {length} ids per review.")
    labels = labels.reshape(len(labels), -1)
    if labels.shape != (batch_size, 1) or not set(np.unique(labels)) <= {0, 1}:
        raise _fail(f"the first batch of labels has shape {labels.shape} and values {np.unique(labels)[:5]}; "
                    "expected one 0 (negative) or 1 (positive) per review: train_labels as they are.")
    expected = _learnt_vocabulary(train_text, vectorizer.get_config()["max_tokens"])
    if _vocabulary(vectorizer) != expected:
        raise _fail("the vectorizer's vocabulary is not the one learnt from all of train_text: adapt it on "
                    "the training text only (the vectorizer's check above says how).")
    where: dict[bytes, list[int]] = {}
    for position, row in enumerate(_vectorized(vectorizer, train_text)):
        where.setdefault(row.tobytes(), []).append(position)
    found = [where.get(row.astype("int64").tobytes()) for row in ids]
    if any(positions is None for positions in found):
        raise _fail("some rows of the batch are not vectorizer(review) of any training review: vectorize "
                    "the training reviews with this vectorizer, in the pipeline.")
    train_labels = np.asarray(train_labels).reshape(-1)
    if not all(np.any(train_labels[positions] == label) for positions, label in zip(found, labels[:, 0],
                                                                                     strict=True)):
        raise _fail("some labels do not belong to their reviews: keep each review with its label, slicing "
                    "the pair from_tensor_slices((train_text, train_labels)) and shuffling the pairs (never "
                    "the two arrays separately).")
    first = np.array([min(positions) for positions in found])
    second = [where.get(row.astype("int64").tobytes()) for row in np.asarray(following[0])] \
        if following is not None else []
    second = np.array([min(positions) for positions in second if positions is not None])

    def in_a_row(positions):
        return len(positions) > 1 and np.array_equal(np.diff(positions), np.ones(len(positions) - 1))

    if in_a_row(first) and (len(second) < 2 or in_a_row(second)):
        if first[0] == 0 and (len(second) < 2 or second[0] == batch_size):
            raise _fail(f"the first batch is the first {batch_size} training reviews in order: shuffle the "
                        f"reviews before batching, .shuffle(len(train_text)) before .batch({batch_size}).")
        raise _fail(f"every batch is {batch_size} consecutive training reviews: .shuffle after .batch only "
                    "reorders whole batches; shuffle the reviews, then batch.")
    if first.max() < min(4 * batch_size, count // 2):
        raise _fail(f"the first batch comes from the first {first.max() + 1} reviews only: the shuffle "
                    "buffer is too small to mix the whole training set; .shuffle(len(train_text)).")
    batches = int(dataset.cardinality())
    if batches == int(tf.data.INFINITE_CARDINALITY):
        raise _fail("the pipeline never ends (.repeat()): one pass over the training reviews is one epoch.")
    if batches >= 0 and batches != -(-count // batch_size):
        raise _fail(f"the pipeline has {batches} batches, expected {-(-count // batch_size)}: one pass over "
                    f"all {count:,} training reviews in batches of {batch_size}.")
    if "Prefetch" not in type(dataset).__name__:
        raise _fail("end the pipeline with .prefetch(tf.data.AUTOTUNE): the next batches are then vectorized "
                    "on the CPU while the model trains on this one.")
    return _passed(f"shuffled batches of {batch_size} (ids {ids.dtype} of shape {ids.shape}, labels 0/1), "
                   "vectorized with the vocabulary of the training text, prefetched.")


def _text_layer(layer) -> str:
    """A layer of the text model as the listing writes it, e.g. ``Bidirectional(LSTM(64, ...))``."""
    kind = type(layer).__name__
    if kind == "Embedding":
        config = layer.get_config()
        masking = ", mask_zero=True" if config["mask_zero"] else ""
        return f"Embedding({config['input_dim']}, {config['output_dim']}{masking})"
    if kind == "Bidirectional":
        return f"Bidirectional({_text_layer(layer.forward_layer)})"
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        sequences = ", return_sequences=True" if layer.return_sequences else ""
        return f"{kind}({layer.units}{sequences})"
    return describe(layer)


def text_model(model, vocab_size: int = 20000) -> bool:
    """Compare a model with lecture 003's BiLSTM listing (the registry's ``imdb_bilstm`` built for
    ``vocab_size``), naming what ``checks.model`` cannot see: the Embedding's size and its masking,
    the LSTMs, and the logit at the end."""
    _require_model(model)
    reference = registry.build("imdb_bilstm", vocab_size=vocab_size)
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError):
        shape = None
    if shape is None or len(shape) != 2:
        raise _fail(f"your model takes inputs of shape {shape}; it reads a sequence of token ids per review: "
                    "start with keras.Input(shape=(None,), dtype='int64').")
    embedding = model.layers[0] if model.layers else None
    if type(embedding).__name__ != "Embedding":
        first_layer = _text_layer(embedding) if embedding else "missing"
        raise _fail(f"layer 1 is {first_layer}; the listing starts with keras.layers.Embedding(vocab_size, "
                    "64, mask_zero=True): one vector of 64 numbers per word id.")
    config = embedding.get_config()
    if config["input_dim"] != vocab_size:
        raise _fail(f"the Embedding has {config['input_dim']:,} rows, the vectorizer gives ids 0 to "
                    f"{vocab_size - 1:,}: the listing's encoder.vocab_size (the old tensorflow_datasets "
                    f"encoder's vocabulary) is our vectorizer's vocabulary size, Embedding(vocab_size, 64).")
    if config["output_dim"] != 64:
        raise _fail(f"the Embedding gives {config['output_dim']} numbers per word, the listing 64: "
                    "Embedding(vocab_size, 64, mask_zero=True).")
    if not config["mask_zero"]:
        raise _fail("the Embedding does not mask the padding: a review shorter than sequence_length ends in "
                    "id 0s, and without mask_zero=True the LSTMs read them as words (the backward LSTM reads "
                    "the padding first). With it, the LSTMs skip those steps and a review gives the same "
                    "output however much padding follows: Embedding(vocab_size, 64, mask_zero=True).")
    last = model.layers[-1]
    if tuple(model.output_shape[1:]) != (1,):
        raise _fail(f"your model outputs {tuple(model.output_shape[1:])} per review; the listing ends in "
                    "Dense(1): one number, the logit of a positive review (Bidirectional(LSTM(32)) without "
                    "return_sequences gives one vector per review).")
    activation = getattr(getattr(last, "activation", None), "__name__", "linear")
    if activation != "linear":
        raise _fail(f"the last layer has activation={activation!r}; the listing's Dense(1) has none: it "
                    "outputs a logit (any real number, a positive review when > 0), the loss is computed "
                    "from logits (BinaryCrossentropy(from_logits=True)) and the end-to-end model adds the "
                    "sigmoid.")
    _same_layers(model, reference, _text_layer, _text_layer, "the listing's")
    if model.count_params() != reference.count_params():
        raise _fail(f"your model has {model.count_params():,} parameters, the listing's "
                    f"{reference.count_params():,}; compare model.summary() with it.")
    return _passed(f"model matches lecture 003's BiLSTM: Embedding({vocab_size}, 64, mask_zero=True), "
                   f"two bidirectional LSTMs, one logit out; {model.count_params():,} parameters.")


def _metric_entry(metric) -> tuple[str, str | None, dict | None]:
    """A compiled metric as (name, class name, config): strings and serialized objects alike."""
    if isinstance(metric, str):
        return metric, None, None
    config = metric.get("config")
    if isinstance(config, dict):
        return str(config.get("name", "")), metric.get("class_name"), config
    return str(config), metric.get("class_name"), None  # a function, e.g. keras.metrics.binary_accuracy


def compiled_text(model, clip_norm: float = 1.0, learning_rate: float = 0.001) -> bool:
    """Check lab 11's compile step: Adam with ``global_clipnorm=clip_norm`` (lecture 002's rule on
    the whole gradient), binary cross-entropy from logits and accuracy thresholded at logit 0."""
    import keras

    _require_model(model)
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise _fail("the model is not compiled yet: call model.compile(optimizer=..., loss=..., "
                    "metrics=[...]).")
    loss = model.loss
    if isinstance(loss, str):
        name, from_logits = {"bce": "binary_crossentropy"}.get(loss, loss), False
    elif isinstance(loss, keras.losses.Loss):
        name, from_logits = _snake(type(loss).__name__), bool(loss.get_config().get("from_logits", False))
    else:
        name, from_logits = getattr(loss, "__name__", type(loss).__name__), False
    if name != "binary_crossentropy":
        raise _fail(f"the loss is {name!r}; one logit per review, two classes: "
                    "loss=keras.losses.BinaryCrossentropy(from_logits=True).")
    if not from_logits:
        raise _fail("binary cross-entropy here expects probabilities, but the model's last Dense(1) gives a "
                    "logit (any real number): Keras would clip it into [0, 1] and train on nonsense. "
                    "loss=keras.losses.BinaryCrossentropy(from_logits=True) applies the sigmoid inside the "
                    "loss, in a numerically stable form.")
    metrics = []
    for entry in model.get_compile_config().get("metrics") or []:
        metrics.extend(entry if isinstance(entry, (list, tuple)) else [entry])
    accuracies = [_metric_entry(m) for m in metrics]
    accuracies = [(name, kind, config) for name, kind, config in accuracies
                  if name in ("accuracy", "acc", "binary_accuracy") or kind in ("BinaryAccuracy", "Accuracy")]
    if not accuracies:
        raise _fail("no accuracy is measured: metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, "
                    "name='accuracy')].")
    name, kind, config = accuracies[0]
    if kind != "BinaryAccuracy" or config is None:
        raise _fail(f"metrics=[{name!r}] measures accuracy at probability 0.5, but here it is applied to "
                    "logits: a logit of 0.3 (probability 0.57) would count as negative. A logit's decision "
                    "point is 0: keras.metrics.BinaryAccuracy(threshold=0.0, name='accuracy').")
    threshold = float(config.get("threshold", 0.5))
    if threshold != 0.0:
        raise _fail(f"BinaryAccuracy(threshold={threshold:g}) applies a probability's threshold to logits: a "
                    "logit of 0.3 (probability 0.57) would count as negative. A logit's decision point is 0: "
                    "BinaryAccuracy(threshold=0.0, name='accuracy').")
    if name != "accuracy":
        raise _fail(f"the accuracy is named {name!r}: name='accuracy', so that the "
                    "history and TensorBoard call it 'accuracy' and 'val_accuracy' as in the batch lab.")
    optimizer = model.optimizer
    if type(optimizer).__name__ != "Adam":
        raise _fail(f"the optimizer is {type(optimizer).__name__}; keras-io's and the batch lab's is Adam: "
                    f"keras.optimizers.Adam(global_clipnorm={clip_norm:g}).")
    rate = float(np.asarray(optimizer.learning_rate))
    if not np.isclose(rate, learning_rate):
        raise _fail(f"learning rate {rate:g}; keras-io uses Adam's default, {learning_rate:g}.")
    if optimizer.global_clipnorm is None:
        if optimizer.clipnorm is not None:
            raise _fail(f"clipnorm={optimizer.clipnorm:g} clips each variable's gradient by its own norm, "
                        "which changes the gradient's direction; lecture 002's rule scales the whole "
                        f"gradient by threshold / ||g||: global_clipnorm={clip_norm:g}.")
        if optimizer.clipvalue is not None:
            raise _fail(f"clipvalue={optimizer.clipvalue:g} cuts every gradient element separately; "
                        "lecture 002's rule scales the whole gradient by threshold / ||g||: "
                        f"global_clipnorm={clip_norm:g}.")
        raise _fail("the gradient is not clipped: lecture 002's gradient norm clipping, if ||g|| >= "
                    f"threshold then g <- threshold / ||g|| * g, is Adam(global_clipnorm={clip_norm:g}).")
    if not np.isclose(float(optimizer.global_clipnorm), clip_norm):
        raise _fail(f"global_clipnorm={optimizer.global_clipnorm:g}; the batch lab's --clip-norm is "
                    f"{clip_norm:g}: global_clipnorm={clip_norm:g}.")
    return _passed(f"compiled with Adam(learning_rate={learning_rate:g}, global_clipnorm={clip_norm:g}), "
                   "BinaryCrossentropy(from_logits=True) and BinaryAccuracy(threshold=0.0).")


def _quiet_tracing():
    """Mute TensorFlow's warning about frequent tracing while a check compiles a few models once each
    (``predict_on_batch``: an eager BiLSTM call takes seconds); it would only be noise here."""
    import contextlib

    import tensorflow as tf

    @contextlib.contextmanager
    def quiet():
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")
        try:
            yield
        finally:
            logger.setLevel(level)

    return quiet()


TEXT_EXAMPLES = ("A wonderful, moving film. I loved it!", "Dull and boring.<br /><br />A waste of time.",
                 "the plot", "")


def text_end_to_end(end_to_end, reloaded, model, vectorizer, path, sentences=()) -> bool:
    """Check lab 11's end-to-end model: raw strings in, ``sigmoid(model(vectorizer(strings)))`` out,
    saved to the ``.keras`` file ``path`` and ``reloaded`` from it with the same predictions."""
    from pathlib import Path

    import tensorflow as tf

    _require_model(end_to_end)
    examples = [*TEXT_EXAMPLES, *map(str, sentences)]
    strings = tf.constant([[example] for example in examples])
    try:
        with _quiet_tracing():
            yours = np.asarray(end_to_end.predict_on_batch(strings), "float64")
    except Exception as error:  # whatever fails, it does not read raw strings
        raise _fail(f"end_to_end failed on raw strings ({type(error).__name__}): it must take them, "
                    "keras.Input(shape=(1,), dtype='string'), then the vectorizer, then the model.") from None
    if yours.size != len(examples):
        raise _fail(f"end_to_end gives {yours.shape} for {len(examples)} reviews: one probability each.")
    yours = yours.reshape(-1)
    with _quiet_tracing():
        logits = np.asarray(model.predict_on_batch(vectorizer(strings)), "float64").reshape(-1)
    if np.allclose(yours, logits, atol=1e-5):
        raise _fail("end_to_end gives the model's logits: add keras.layers.Activation('sigmoid') after the "
                    "model, so that it returns the probability of a positive review.")
    if not np.allclose(yours, 1 / (1 + np.exp(-logits)), atol=1e-5):
        raise _fail("end_to_end(strings) differs from sigmoid(model(vectorizer(strings))): join the adapted "
                    "vectorizer and the trained model, strings -> vectorizer -> model -> sigmoid.")
    path = Path(path)
    if path.suffix != ".keras":
        raise _fail(f"{path.name} is not a .keras file: save with a name ending in .keras (Keras 3's format, "
                    "weights and architecture in one file).")
    if not path.is_file():
        raise _fail(f"nothing is saved at {path}: end_to_end.save(path).")
    if reloaded is end_to_end:
        raise _fail("reloaded is end_to_end itself: load it back from the file, reloaded = text.load(path).")
    _require_model(reloaded)
    try:
        with _quiet_tracing():
            again = np.asarray(reloaded.predict_on_batch(strings), "float64").reshape(-1)
    except Exception as error:  # whatever fails, it does not read raw strings
        raise _fail(f"the reloaded model fails on raw strings ({type(error).__name__}): save and load the "
                    "end-to-end model, not the model on ids (nor the training checkpoint).") from None
    if again.shape != yours.shape or not np.allclose(again, yours, atol=1e-6):
        raise _fail("the reloaded model predicts differently: save end_to_end (after training) to path and "
                    "reload that same file.")
    return _passed(f"raw strings -> probabilities; reloaded from {path.name}, the same on {len(examples)} "
                   f"reviews (largest difference {np.abs(again - yours).max():.1e}).")


# --------------------------------------------------------------------------- lab 12: Fashion-MNIST


def _reference_confusion(labels, predictions, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts[true, pred], predicted ids) from labels and class ids or probabilities."""
    from workbench import plots

    predicted = np.asarray(predictions)
    predicted = predicted.argmax(axis=-1) if predicted.ndim == 2 and predicted.shape[1] > 1 else predicted
    predicted = np.reshape(predicted, -1).astype(np.int64)
    return plots.confusion_counts(np.reshape(labels, -1), predicted, num_classes), predicted


def confusion_matrix(confusion, labels, predictions, class_names=None, num_classes: int = 10) -> bool:
    """Check a confusion matrix counted with NumPy: ``confusion[true, predicted]`` is the number of
    test images of class ``true`` that the model called ``predicted``. ``predictions`` may be class
    ids or ``model.predict``'s probabilities; the reference is counted here from the same ones."""
    num_classes = len(class_names) if class_names is not None else num_classes
    expected, _ = _reference_confusion(labels, predictions, num_classes)
    if confusion is None:
        raise _fail(f"confusion is None: fill a ({num_classes}, {num_classes}) array of counts and leave it "
                    "as `confusion`.")
    mine = np.asarray(confusion)
    if mine.shape != expected.shape:
        raise _fail(f"confusion has shape {mine.shape}; it needs one row per true class and one column per "
                    f"predicted class, ({num_classes}, {num_classes}): start from "
                    f"np.zeros(({num_classes}, {num_classes}), dtype=int).")
    total = int(expected.sum())
    if not np.issubdtype(mine.dtype, np.number):
        raise _fail(f"confusion holds {mine.dtype} values; it counts images: integers.")
    if np.array_equal(mine, expected):
        worst = int(np.argmax(expected.sum(axis=1) - np.diag(expected)))
        name = class_names[worst] if class_names is not None else f"class {worst}"
        return _passed(f"confusion[true, predicted] counts all {total:,} test images; "
                       f"{total - int(np.trace(expected)):,} are off the diagonal, the most of them "
                       f"in the row of {name}.")
    if np.array_equal(mine, expected.T):
        raise _fail("confusion is transposed: the rows must be the true classes and the columns the "
                    "predicted ones, confusion[true, predicted] (here rows are the predictions).")
    rows = expected.sum(axis=1, keepdims=True)
    if np.allclose(mine, expected / np.maximum(rows, 1)) or np.allclose(mine, expected / max(total, 1)):
        raise _fail("confusion holds fractions; count images first (integers, np.zeros(..., dtype=int)). "
                    "Per-class accuracy, the next step, divides by the row sums.")
    if np.array_equal(mine, (expected > 0).astype(mine.dtype)):
        raise _fail(f"confusion adds up to {int(mine.sum()):,}, not {total:,}: each (true, predicted) pair "
                    "was counted once however often it occurs. confusion[labels, predicted] += 1 with "
                    "arrays does that (NumPy writes a repeated index once); use "
                    "np.add.at(confusion, (labels, predicted), 1) or loop over the images.")
    same_counts = np.array_equal(np.sort(mine, axis=None), np.sort(expected, axis=None))
    if np.isclose(mine.sum(), total) and same_counts:
        raise _fail("confusion has the right counts in the wrong cells: index it as "
                    "confusion[true_label, predicted_class], with the predicted class from "
                    "predictions.argmax(axis=1).")
    if not np.isclose(mine.sum(), total):
        raise _fail(f"confusion adds up to {mine.sum():g}, but there are {total:,} test images: count each "
                    "image exactly once, in row true_label and column predicted_class.")
    wrong = np.argwhere(mine != expected)[0]
    raise _fail(f"confusion[{wrong[0]}, {wrong[1]}] is {mine[wrong[0], wrong[1]]:g}, expected "
                f"{expected[wrong[0], wrong[1]]}: the images of true class {wrong[0]} predicted as "
                f"{wrong[1]}. Take the predicted class as predictions.argmax(axis=1) and count "
                "(test_labels[i], predicted[i]) for every test image.")


def per_class_accuracy(per_class, labels, predictions, class_names=None, num_classes: int = 10) -> bool:
    """Check per-class accuracy from the confusion matrix: the diagonal divided by the row sums
    (the number of test images of each true class)."""
    num_classes = len(class_names) if class_names is not None else num_classes
    expected_counts, _ = _reference_confusion(labels, predictions, num_classes)
    diagonal = np.diag(expected_counts).astype(float)
    rows, columns = expected_counts.sum(axis=1), expected_counts.sum(axis=0)
    expected = diagonal / np.maximum(rows, 1)
    if per_class is None:
        raise _fail("per_class is None: compute it from confusion and leave it as `per_class`.")
    mine = np.asarray(per_class, dtype=float).reshape(-1) if np.size(per_class) else np.zeros(0)
    if mine.shape != expected.shape:
        raise _fail(f"per_class has {mine.size} values; one accuracy per class, {num_classes}: "
                    "confusion.diagonal() / confusion.sum(axis=1).")
    if np.allclose(mine, expected, atol=1e-6):
        worst, best = int(np.argmin(expected)), int(np.argmax(expected))
        names = [class_names[i] if class_names is not None else f"class {i}" for i in (worst, best)]
        return _passed(f"per-class accuracy from {expected.min():.3f} ({names[0]}) to {expected.max():.3f} "
                       f"({names[1]}); "
                       "their mean weighted by class size is the accuracy, "
                       f"{diagonal.sum() / rows.sum():.4f}.")
    if np.allclose(mine, diagonal / np.maximum(columns, 1), atol=1e-6):
        raise _fail("per_class divides by the column sums, the images *predicted* as each class: that is "
                    "precision. Accuracy per class divides by the images that *are* of the class, the row "
                    "sums: confusion.diagonal() / confusion.sum(axis=1).")
    if np.allclose(mine, diagonal / max(rows.sum(), 1), atol=1e-6):
        raise _fail("per_class divides by all test images; divide each class's correct count by that "
                    "class's own count, the row sums: confusion.diagonal() / confusion.sum(axis=1).")
    if np.allclose(mine, 100 * expected, atol=1e-4):
        raise _fail("per_class is in percent; keep fractions between 0 and 1, as Keras' accuracy.")
    raise _fail(f"per_class is {np.round(mine, 3).tolist()}, expected {np.round(expected, 3).tolist()}: "
                "the diagonal (correct predictions) divided by the row sums (images of each true class).")


# --------------------------------------------------------------------------- lab 13: CIFAR-10


def _build_block(block, shape, *args, **kwargs):
    """``keras.Model(x, block(x, *args))`` on an input of ``shape``; the error, if building fails."""
    import keras

    x = keras.Input(shape=shape)
    try:
        return keras.Model(x, block(x, *args, **kwargs)), None
    except Exception as error:  # whatever the participant's code raises, report it with a hint
        return None, f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"


def _layers_of(model, kind: str) -> list:
    return [layer for layer in model.layers if type(layer).__name__ == kind]


def residual_block(block) -> bool:
    """Check a participant's ``residual_block(x, filters, stride=1)`` against
    ``workbench.blocks.residual_block`` by behaviour: output shapes with the same and with half the
    size (stride 2, twice the filters), the same number of parameters and batch norm's momentum,
    and relu(x), the identity shortcut, when the branch's convolutions are zero."""
    from workbench import blocks

    shape = (8, 8, 16)
    same, error = _build_block(block, shape, 16)
    if same is None:
        raise _fail(f"residual_block(x, 16) on an 8x8x16 input failed ({error}). Usually the add: each 3x3 "
                    "convolution without padding takes 2 pixels off (8x8, 6x6, 4x4), and the result cannot "
                    "be added to x; Conv2D(filters, 3, padding=\"same\") keeps the size.")
    if tuple(same.output_shape[1:]) != shape:
        raise _fail(f"residual_block(x, 16) on an 8x8x16 input gives {tuple(same.output_shape[1:])}; with "
                    "16 filters and stride 1 the block keeps the shape, (8, 8, 16): padding=\"same\" and "
                    "strides=1 in both convolutions.")
    halved, error = _build_block(block, shape, 32, stride=2)
    if halved is None:
        raise _fail(f"residual_block(x, 32, stride=2) failed ({error}). With stride 2 and 32 filters the "
                    "branch gives 4x4x32 while x is 8x8x16: pass x through Conv2D(filters, 1, "
                    "strides=stride) and BatchNormalization before the add whenever stride != 1 or the "
                    "filters change.")
    if tuple(halved.output_shape[1:]) != (4, 4, 32):
        raise _fail("residual_block(x, 32, stride=2) on an 8x8x16 input gives "
                    f"{tuple(halved.output_shape[1:])}, expected (4, 4, 32): the first 3x3 convolution "
                    "takes strides=stride, the second 1, and the 1x1 projection of x strides=stride too.")
    for model, settings in ((same, (16,)), (halved, (32, 2))):
        reference, _ = _build_block(blocks.residual_block, shape, *settings)
        if model.count_params() != reference.count_params():
            mine_bias = sum(1 for layer in _layers_of(model, "Conv2D") if layer.use_bias)
            hint = (f"{mine_bias} of your convolutions have biases; batch norm right after them has its own "
                    "(beta), so Conv2D(..., use_bias=False)" if mine_bias else
                    "conv 3x3 - BatchNormalization - relu - conv 3x3 - BatchNormalization on the branch, and "
                    "a 1x1 convolution with BatchNormalization on the shortcut only where the shape changes")
            call = "residual_block(x, 16)" if settings == (16,) else "residual_block(x, 32, stride=2)"
            raise _fail(f"{call} on an 8x8x16 input has {model.count_params():,} parameters, the "
                        f"reference block {reference.count_params():,}: {hint}.")
    momenta = {round(float(layer.momentum), 4) for layer in _layers_of(same, "BatchNormalization")}
    if momenta != {blocks.BN_MOMENTUM}:
        raise _fail(f"batch norm momentum {sorted(momenta)}: use BatchNormalization(momentum="
                    f"{blocks.BN_MOMENTUM}). With Keras' 0.99 the moving mean and variance, which the model "
                    "uses at test time, need hundreds of steps to forget their start values, and a short run "
                    "on the subset tests at chance level although it trains.")
    # The branch switched off: every convolution's weights zero. Batch norm of 0 at inference is its
    # beta, 0 at the start, so the block is relu(x + 0) with the identity shortcut.
    for layer in _layers_of(same, "Conv2D"):
        layer.set_weights([np.zeros_like(weights) for weights in layer.get_weights()])
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    out = np.asarray(same(x, training=False))
    if not np.allclose(out, np.maximum(x, 0), atol=1e-5):
        if np.allclose(out, x, atol=1e-5):
            raise _fail("with the branch switched off the block returns x itself, negative values included: "
                        "apply the relu after the add, Activation(\"relu\")(add([shortcut, y])).")
        if np.allclose(out, 0, atol=1e-5):
            raise _fail("with the branch switched off the block returns 0: x is not added back. "
                        "z = keras.layers.add([x, y]) (the lecture's listing), then relu.")
        raise _fail("with the branch's convolutions set to zero the block should give relu(x) (the identity "
                    "shortcut plus a zero branch); yours gives something else: relu(add([x, F(x)])) with "
                    "F = conv-BN-relu-conv-BN.")
    return _passed(f"shapes kept (8x8x16 -> 8x8x16) and halved (-> 4x4x32 with a projected shortcut); "
                   f"{same.count_params():,} and {halved.count_params():,} parameters as the reference; "
                   "relu(x) when the branch is zero.")


def squeeze_excite(block, channels: int = 32, ratio: int = 8) -> bool:
    """Check ``squeeze_excite(u, ratio)`` numerically against lecture 002's three equations, computed
    here with NumPy from the block's own Dense weights: z_c = mean of channel c over H x W,
    s = sigmoid(W2 relu(W1 z)), x~_c = s_c u_c."""
    shape = (6, 5, channels)
    model, error = _build_block(block, shape, ratio=ratio)
    if model is None:
        raise _fail(f"squeeze_excite(u, ratio={ratio}) on a 6x5x{channels} input failed ({error}).")
    if tuple(model.output_shape[1:]) != shape:
        raise _fail(f"the block gives {tuple(model.output_shape[1:])} for u of shape {shape}: x~ has u's "
                    "shape, each channel scaled by its s_c; reshape s to (1, 1, C) and multiply, "
                    "keras.layers.Multiply()([u, s]).")
    dense = _layers_of(model, "Dense")
    if len(dense) != 2:
        raise _fail(f"the block has {len(dense)} Dense layer(s); the excitation has two: W1 with C/r units "
                    "and relu (delta), then W2 with C units and sigmoid (sigma).")
    (w1, *b1), (w2, *b2) = (layer.get_weights() for layer in dense)
    if w1.shape[1] != channels // ratio:
        raise _fail(f"W1 has {w1.shape[1]} units; the bottleneck is C/r = {channels}/{ratio} = "
                    f"{channels // ratio}: Dense(channels // ratio, activation=\"relu\").")
    if w2.shape[1] != channels:
        raise _fail(f"W2 has {w2.shape[1]} units; it gives one s_c per channel, C = {channels}.")
    b1 = b1[0] if b1 else 0.0
    b2 = b2[0] if b2 else 0.0
    u = np.random.default_rng(2).normal(size=(3, *shape)).astype("float64")
    out = np.asarray(model(u.astype("float32")), "float64")

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    def excite(z, first=lambda v: np.maximum(v, 0), last=sigmoid):
        return last(first(z @ w1 + b1) @ w2 + b2)

    z = u.mean(axis=(1, 2))
    expected = u * excite(z)[:, None, None, :]
    if np.allclose(out, expected, atol=1e-4):
        s = excite(z)
        return _passed("x~ = s * u with s = sigmoid(W2 relu(W1 z)) and z the channel means, equal to "
                       f"NumPy's (largest difference {np.abs(out - expected).max():.1e}); s from "
                       f"{s.min():.2f} to {s.max():.2f}, W1 {w1.shape[0]}->{w1.shape[1]}.")
    slips = [
        (u * excite(u.max(axis=(1, 2)))[:, None, None, :],
         "the squeeze takes each channel's maximum; the lecture's z_c is its mean over H x W: "
         "GlobalAveragePooling2D"),
        (u * excite(z, first=lambda v: v)[:, None, None, :],
         "the relu (delta) after W1 is missing: Dense(C // r, activation=\"relu\")"),
        (u * excite(z, last=lambda v: v)[:, None, None, :],
         "s is not squashed by the sigmoid: Dense(C, activation=\"sigmoid\"), so each s_c is a gate in "
         "(0, 1)"),
        (u * excite(z, first=sigmoid, last=lambda v: np.maximum(v, 0))[:, None, None, :],
         "the activations are swapped: relu after W1, sigmoid after W2"),
        (u + excite(z)[:, None, None, :], "s is added to u; the scale step multiplies, x~_c = s_c u_c"),
    ]
    for candidate, why in slips:
        if np.allclose(out, candidate, atol=1e-4):
            raise _fail(f"{why}.")
    raise _fail("the block's output differs from s_c * u_c with s = sigmoid(W2 relu(W1 z)), z_c the mean "
                "of channel c (largest difference "
                f"{np.abs(out - expected).max():.3g}): squeeze with GlobalAveragePooling2D, excite with "
                "Dense(C // r, relu) then Dense(C, sigmoid), reshape to (1, 1, C) and multiply with u.")


def _mixed(mix, x, y, alpha):
    try:
        result = mix(x, y, alpha)
    except Exception as error:  # whatever the participant's code raises, report it with a hint
        raise _fail(f"mixup(images, labels, alpha={alpha}) failed ({type(error).__name__}: "
                    f"{str(error).strip().splitlines()[0][:160]}).") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise _fail("mixup must return two arrays, the mixed images and the mixed labels: "
                    "return mixed_images, mixed_labels.")
    return tuple(np.asarray(part, "float64") for part in result)


def mixup(mix, batch: int = 16, calls: int = 100) -> bool:
    """Property test of ``mixup(images, labels, alpha)`` on one-hot labels (lecture 002):
    x~ = lambda x_i + (1 - lambda) x_j and y~ = lambda y_i + (1 - lambda) y_j with the *same* lambda.

    Every sample of the test batch is its own class, so each mixed label says which samples were
    mixed and with which weights; the mixed image must be that same convex combination of theirs.
    Lambda may be drawn per sample or per batch, but from Beta(alpha, alpha) and anew on every call.
    """
    rng = np.random.default_rng(0)
    x = rng.random((batch, 4, 4, 3)).astype("float32")
    y = np.eye(batch, dtype="float32")
    mixed_x, mixed_y = _mixed(mix, x, y, 1.0)
    if mixed_x.shape != x.shape or mixed_y.shape != y.shape:
        raise _fail(f"mixup returned images {mixed_x.shape} and labels {mixed_y.shape} for {x.shape} and "
                    f"{y.shape}: one mixed sample per sample of the batch, the shapes unchanged.")
    if np.allclose(mixed_x, x) and np.allclose(mixed_y, y):
        raise _fail("mixup returned the batch unchanged: draw lam ~ Beta(alpha, alpha) and a partner j for "
                    "each sample (a permutation of the batch), then blend both images and labels.")
    sums = mixed_y.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-5):
        raise _fail(f"a mixed label sums to {sums[np.argmax(np.abs(sums - 1))]:.3f}, not 1: weight the two "
                    "one-hot labels by lam and 1 - lam, y~ = lam y_i + (1 - lam) y_j, so it stays a "
                    "distribution over the classes.")
    if mixed_y.min() < -1e-6 or mixed_y.max() > 1 + 1e-6:
        raise _fail(f"mixed labels range over [{mixed_y.min():.2f}, {mixed_y.max():.2f}]: lam must lie in "
                    "[0, 1], lam = np.random.beta(alpha, alpha).")
    if np.allclose(mixed_y, y) or np.all(mixed_y.max(axis=1) > 1 - 1e-6):
        raise _fail("the images are mixed but the labels are still one-hot: mix the labels with the same "
                    "lam and partner, y~ = lam y_i + (1 - lam) y_j.")
    flat = x.reshape(batch, -1).astype("float64")
    for i in range(batch):
        weights = mixed_y[i]
        classes = np.flatnonzero(weights > 1e-6)
        if len(classes) > 2:
            raise _fail(f"mixed label {i} has weight on {len(classes)} classes: each sample is mixed with "
                        "one partner, x~ = lam x_i + (1 - lam) x_j.")
        expected = weights[classes] @ flat[classes]
        got = mixed_x[i].reshape(-1)
        if np.allclose(got, expected, atol=1e-5):
            continue
        if np.allclose(got, flat[i], atol=1e-5):
            raise _fail("the labels are mixed but the images are not: blend the images with the same lam and "
                        "partner, x~ = lam x_i + (1 - lam) x_j.")
        if len(classes) == 2:
            a, b = classes
            direction = flat[a] - flat[b]
            lam_x = float((got - flat[b]) @ direction / (direction @ direction))
            if np.allclose(got, lam_x * flat[a] + (1 - lam_x) * flat[b], atol=1e-4):
                if abs(lam_x - weights[b]) < 1e-4:
                    raise _fail("lam and 1 - lam are swapped between image and label: the sample that gets "
                                "lam in x~ = lam x_i + (1 - lam) x_j gets lam in y~ too.")
                raise _fail(f"sample {i}'s image is {lam_x:.2f} of one image and {1 - lam_x:.2f} of the "
                            f"other, but its label gives them {weights[a]:.2f} and {weights[b]:.2f}: use the "
                            "same lam for the image and its label (draw it once, then mix both).")
        raise _fail(f"mixed image {i} is not the blend its label describes "
                    f"({np.round(weights[classes], 3)} of samples {classes.tolist()}): "
                    "x~ = lam x_i + (1 - lam) x_j with the label's lam and partner.")
    again_x, _ = _mixed(mix, x, y, 1.0)
    if np.allclose(again_x, mixed_x):
        raise _fail("two calls mixed the batch identically: draw lam and the partners anew on every call "
                    "(a generator without a fixed seed, created once outside mixup), so every epoch sees "
                    "new mixes.")
    largest = {}
    for alpha in (0.2, 1.0):
        draws = [_mixed(mix, x, y, alpha)[1].max(axis=1) for _ in range(calls)]
        largest[alpha] = float(np.mean(draws))
    if not (largest[0.2] > 0.84 and 0.70 < largest[1.0] < 0.82):
        raise _fail(f"the larger weight max(lam, 1 - lam) averages {largest[0.2]:.2f} for alpha = 0.2 and "
                    f"{largest[1.0]:.2f} for alpha = 1; Beta(alpha, alpha) gives about 0.90 and 0.75 (small "
                    "alpha: mostly a little mixing; alpha = 1: uniform). Draw lam = rng.beta(alpha, alpha).")
    return _passed("images and one-hot labels mixed with the same lam ~ Beta(alpha, alpha), one partner "
                   "each, labels summing to 1, new mixes every call (mean larger weight "
                   f"{largest[0.2]:.2f} at alpha 0.2, {largest[1.0]:.2f} at alpha 1).")
