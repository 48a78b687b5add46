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
    for position, (mine, theirs) in enumerate(zip(model.layers, reference.layers, strict=False), 1):
        if type(mine) is not type(theirs) or layer_fields(mine) != layer_fields(theirs):
            raise _fail(f"layer {position} should be {describe(theirs)}, yours is {describe(mine)}.")
    if len(model.layers) < len(reference.layers):
        missing = reference.layers[len(model.layers)]
        raise _fail(f"your model has {len(model.layers)} layers, the lecture's {len(reference.layers)}: "
                    f"layer {len(model.layers) + 1} should be {describe(missing)}.")
    if len(model.layers) > len(reference.layers):
        extra = model.layers[len(reference.layers)]
        raise _fail(f"your model has {len(model.layers)} layers, the lecture's {len(reference.layers)}: "
                    f"remove {describe(extra)} and what follows it.")
    if model.count_params() != reference.count_params():
        raise _fail(f"your model has {model.count_params():,} parameters, expected "
                    f"{reference.count_params():,}; compare model.summary() with the listing.")
    return _passed(f"model matches {spec.title!r}: {len(model.layers)} layers, "
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


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        return {"mse": "mean_squared_error"}.get(loss, loss)
    return getattr(loss, "name", None) or _snake(type(loss).__name__)


def compiled(model, loss: str = "sparse_categorical_crossentropy", optimizer: str = "SGD",
             learning_rate: float = 0.01, momentum: float | None = 0.9) -> bool:
    """Check the compile step: loss, optimizer and its settings, accuracy metric."""
    _require_model(model)
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise _fail("the model is not compiled yet: call model.compile(optimizer=..., loss=..., "
                    "metrics=['accuracy']) before training.")
    yours = _loss_name(model.loss)
    if yours != loss:
        advice = LOSS_ADVICE.get(yours, f"use loss='{loss}'.")
        raise _fail(f"wrong loss {yours!r}: {advice}")
    opt = model.optimizer
    if type(opt).__name__ != optimizer:
        raise _fail(f"the lecture uses keras.optimizers.{optimizer}, yours is {type(opt).__name__}.")
    rate = float(np.asarray(opt.learning_rate))
    if not np.isclose(rate, learning_rate):
        raise _fail(f"learning rate is {rate:g}, the lecture uses {learning_rate:g} "
                    f"(Keras 3 spells it learning_rate=, not lr=).")
    if momentum is not None and not np.isclose(float(getattr(opt, "momentum", 0.0)), momentum):
        raise _fail(f"momentum is {getattr(opt, 'momentum', 0.0)}, the lecture uses {momentum}.")
    return _passed(f"compiled with {optimizer}(learning_rate={learning_rate:g}"
                   + (f", momentum={momentum}" if momentum is not None else "") + f") and {loss}.")


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


def hparams_sweep(results, grid: dict) -> bool:
    """Every combination of ``grid`` ran once and has a plausible test accuracy."""
    from workbench import sweep

    keys = sorted(grid)
    expected = {tuple(point[k] for k in keys) for point in sweep.points({"grid": grid})}
    seen = [tuple(result.get(k.replace("-", "_")) for k in keys) for result in results]
    missing = sorted(expected - set(seen), key=str)
    if missing:
        example = dict(zip(keys, missing[0], strict=True))
        raise _fail(f"{len(missing)} combination(s) never ran, e.g. {example}: "
                    "loop over every point of sweep.points(spec).")
    if len(seen) != len(expected):
        raise _fail(f"{len(seen)} results for {len(expected)} combinations: run each point once.")
    bad = [result for result in results if not 0.1 < result.get("accuracy", 0) <= 1.0]
    if bad:
        raise _fail(f"accuracy {bad[0].get('accuracy')} for {bad[0]}: was the model trained and evaluated "
                    "on the scaled test images?")
    return _passed(f"all {len(expected)} combinations trained and logged.")
