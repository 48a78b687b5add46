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
