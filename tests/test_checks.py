"""Participant checks: they pass on the right answer and name the mistake otherwise."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from workbench import checks, models, training

Fail = checks.CheckFailed


def sequential(*layers, shape=(28, 28, 1)):
    return keras.Sequential([keras.Input(shape=shape), *layers])


def cnn_layers(dense_units=100, last=10):
    return [
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.Flatten(),
        keras.layers.Dense(dense_units, activation="relu"),
        keras.layers.Dense(10, activation="relu"),
        keras.layers.Dense(last, activation="softmax"),
    ]


def test_right_model_passes(capsys):
    assert checks.model(sequential(*cnn_layers()), "mnist_cnn")
    assert "542,340 parameters" in capsys.readouterr().out


def test_wrong_layer_is_named():
    with pytest.raises(Fail, match=r"layer 4 should be Dense\(100, activation='relu'\), yours is Dense\(64"):
        checks.model(sequential(*cnn_layers(dense_units=64)), "mnist_cnn")


def test_wrong_layer_type_is_named():
    layers = cnn_layers()
    layers[1] = keras.layers.AveragePooling2D(2, 2)
    with pytest.raises(Fail, match=r"layer 2 should be MaxPooling2D.*yours is AveragePooling2D"):
        checks.model(sequential(*layers), "mnist_cnn")


def test_wrong_output_shape_is_named():
    with pytest.raises(Fail, match=r"wrong output shape: your model outputs \(1,\), expected \(10,\)"):
        checks.model(sequential(*cnn_layers(last=1)), "mnist_cnn")


def test_missing_and_extra_layers_are_named():
    short = sequential(keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"), shape=(28, 28))
    with pytest.raises(Fail, match=r"layer 2 should be Dense\(64"):
        checks.model(short, "mnist_dense")
    longer = sequential(*cnn_layers()[:3], keras.layers.Dense(100, activation="relu"),
                        keras.layers.Dense(10, activation="relu"), keras.layers.Dense(10, activation="relu"),
                        keras.layers.Dense(10, activation="softmax"))
    with pytest.raises(Fail, match="layer 6 should be Dense"):
        checks.model(longer, "mnist_cnn")


def test_wrong_input_shape_is_named():
    with pytest.raises(Fail, match=r"inputs of shape \(28, 28\), the lecture's takes \(28, 28, 1\)"):
        checks.model(models.build("mnist_dense"), "mnist_cnn")


def test_not_a_model():
    with pytest.raises(Fail, match="expected a Keras model, got NoneType"):
        checks.model(None, "mnist_cnn")


def test_compile_checks():
    model = models.build("mnist_dense")
    with pytest.raises(Fail, match="not compiled yet"):
        checks.compiled(model)
    model.compile(optimizer=training.lecture_optimizer(), loss="categorical_crossentropy")
    with pytest.raises(Fail, match="expects one-hot labels.*sparse_categorical_crossentropy"):
        checks.compiled(model)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    with pytest.raises(Fail, match="learning rate is 0.1, the lecture uses 0.01"):
        checks.compiled(model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(Fail, match="lecture uses keras.optimizers.SGD, yours is Adam"):
        checks.compiled(model)
    training.compile_classifier(model)
    assert checks.compiled(model)


def test_images_prepared():
    raw = np.zeros((5, 28, 28), np.uint8) + 200
    with pytest.raises(Fail, match=r"reshape\(-1, 28, 28, 1\)"):
        checks.images_prepared(raw, (28, 28, 1))
    with pytest.raises(Fail, match="divide by 255"):
        checks.images_prepared(raw.reshape(-1, 28, 28, 1), (28, 28, 1))
    assert checks.images_prepared(raw.reshape(-1, 28, 28, 1) / 255, (28, 28, 1))


def test_low_accuracy_is_explained():
    model = training.compile_classifier(models.build("mnist_dense"))
    x = np.random.default_rng(0).random((50, 28, 28)).astype("float32")
    y = np.arange(50) % 10
    with pytest.raises(Fail, match="accuracy 0.*is below 0.95.*divide by 255"):
        checks.accuracy(model, x, y, minimum=0.95)
    assert checks.accuracy(model, x, y, minimum=0.0)


# --------------------------------------------------------------------------- labs 08-10


def test_noisy_images_passes_the_right_corruption_and_names_each_slip():
    import tensorflow as tf

    def corrupt(noise, clip=True):
        def noisy(images):
            out = images + noise(tf.shape(images))
            return tf.clip_by_value(out, 0.0, 1.0) if clip else out
        return noisy

    assert checks.noisy_images(corrupt(lambda shape: 0.4 * tf.random.normal(shape)), 0.4)
    slips = {
        "clip them back": corrupt(lambda shape: 0.4 * tf.random.normal(shape), clip=False),
        "not multiplied by noise_factor": corrupt(tf.random.normal),
        r"mean 0 \(tf.random.normal": corrupt(lambda shape: 0.4 * tf.random.uniform(shape)),
        "unchanged": corrupt(lambda shape: tf.zeros(shape)),
        "same noise": corrupt(lambda shape: 0.4 * tf.random.stateless_normal(shape, seed=[1, 2])),
    }
    for message, noisy in slips.items():
        with pytest.raises(Fail, match=message):
            checks.noisy_images(noisy, 0.4)


def test_noisy_pairs_wants_shuffled_batches_of_noisy_inputs_and_clean_targets():
    import tensorflow as tf

    clean = np.random.default_rng(0).random((300, 28, 28, 1)).astype("float32")

    def noisy(x):
        return tf.clip_by_value(x + 0.4 * tf.random.normal(tf.shape(x)), 0.0, 1.0)

    images = tf.data.Dataset.from_tensor_slices(clean)
    assert checks.noisy_pairs(images.shuffle(300, seed=0).map(lambda x: (noisy(x), x)).batch(128), clean)
    shuffled = images.shuffle(300, seed=0)
    cases = {
        "wrong way round": shuffled.map(lambda x: (x, noisy(x))).batch(128),
        "inputs are clean": shuffled.map(lambda x: (x, x)).batch(128),
        "targets are not the clean": shuffled.map(lambda x: (noisy(x), noisy(x))).batch(128),
        "shuffle before batching": images.map(lambda x: (noisy(x), x)).batch(128),
        r"\.batch\(128\)": images.map(lambda x: (noisy(x), x)),
        "a pair": images.batch(128),
    }
    for message, dataset in cases.items():
        with pytest.raises(Fail, match=message):
            checks.noisy_pairs(dataset, clean)


def sampling_layer(formula):
    """A Sampling layer whose call is ``formula(z_mean, z_log_var, layer)``."""
    from workbench import vae

    class Wrong(vae.Sampling):
        def call(self, inputs):
            return formula(*inputs, self)

    return Wrong()


def test_sampling_passes_keras_io_layer_and_names_each_slip():
    from keras import ops

    from workbench import vae

    def epsilon(z_mean, layer):
        return keras.random.normal(ops.shape(z_mean), seed=layer.seed_generator)

    assert checks.sampling(vae.Sampling())
    slips = {
        "exp\\(z_log_var\\) is the variance": lambda m, v, layer: m + ops.exp(v) * epsilon(m, layer),
        "z equals z_mean": lambda m, v, layer: m + 0 * v,
        "same z": lambda m, v, layer: m + ops.exp(0.5 * v) * 0.7,
        "two calls drew the same epsilon": lambda m, v, layer: m + ops.exp(0.5 * v) * keras.random.normal(
            ops.shape(m), seed=1337),
        "z_mean is not added": lambda m, v, layer: ops.exp(0.5 * v) * epsilon(m, layer),
        "not multiplied by sigma": lambda m, v, layer: m + epsilon(m, layer),
        "log of the variance, not sigma": lambda m, v, layer: m + v * epsilon(m, layer),
    }
    for message, formula in slips.items():
        with pytest.raises(Fail, match=message):
            checks.sampling(sampling_layer(formula))


def test_vae_encoder_matches_keras_io_and_wants_its_outputs_in_order():
    from workbench import vae

    assert checks.vae_encoder(vae.encoder())
    right = vae.encoder()
    z_mean, z_log_var, z = right.outputs
    with pytest.raises(Fail, match=r"list them as \[z_mean, z_log_var, z\]"):
        checks.vae_encoder(keras.Model(right.inputs, [z, z_mean, z_log_var]))
    with pytest.raises(Fail, match="three"):
        checks.vae_encoder(keras.Model(right.inputs, [z_mean, z_log_var]))
    with pytest.raises(Fail, match=r"layer 6 should be Dense\(2, .*yours is Dense\(3"):
        checks.vae_encoder(vae.encoder(latent_dim=3))


def vae_with_loss(reconstruction_axes=(1, 2), kl_sign=-0.5, kl_reduce="sum", pixel_reduce="sum"):
    from keras import ops

    from workbench import vae

    class Wrong(vae.VAE):
        def loss_terms(self, images, training=False):
            z_mean, z_log_var, z = self.encoder(images, training=training)
            per_pixel = keras.losses.binary_crossentropy(images, self.decoder(z))
            reduce = ops.sum if pixel_reduce == "sum" else ops.mean
            reconstruction = ops.mean(reduce(per_pixel, axis=reconstruction_axes))
            kl = kl_sign * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl = ops.mean(ops.sum(kl, axis=1) if kl_reduce == "sum" else ops.mean(kl, axis=1))
            return {"reconstruction_loss": reconstruction, "kl_loss": kl}

    return Wrong


def test_vae_loss_passes_keras_io_and_names_each_slip():
    from workbench import vae

    assert checks.vae_loss(vae.VAE)
    assert checks.vae_loss(vae_with_loss())  # the same formulas written out
    with pytest.raises(Fail, match=r"sum it over the pixels"):
        checks.vae_loss(vae_with_loss(pixel_reduce="mean"))
    with pytest.raises(Fail, match="the sign is wrong"):
        checks.vae_loss(vae_with_loss(kl_sign=0.5))
    with pytest.raises(Fail, match="sum over them"):
        checks.vae_loss(vae_with_loss(kl_reduce="mean"))


def test_mc_dropout_wants_dropout_on_and_the_chosen_class_spread():
    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).random((40, 8)).astype("float32")
    samples = np.stack([np.asarray(model(x, training=True)) for _ in range(10)])
    mean = samples.mean(axis=0)
    spread = samples[:, np.arange(40), mean.argmax(-1)].std(axis=0)
    assert checks.mc_dropout(samples, mean, spread)
    off = np.stack([np.asarray(model(x, training=False)) for _ in range(10)])
    with pytest.raises(Fail, match="training=True"):
        checks.mc_dropout(off, off.mean(axis=0), off[:, np.arange(40), 0].std(axis=0))
    with pytest.raises(Fail, match=r"samples.mean\(axis=0\)"):
        checks.mc_dropout(samples, samples.mean(axis=1), spread)
    with pytest.raises(Fail, match="each pass's own top class"):
        checks.mc_dropout(samples, mean, samples.max(axis=-1).std(axis=0))
    with pytest.raises(Fail, match=r"np.stack"):
        checks.mc_dropout(samples[0], mean, spread)
