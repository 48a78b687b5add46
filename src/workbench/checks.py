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
