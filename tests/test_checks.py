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


# --------------------------------------------------------------------------- lab 00: foundations


def rosenblatt(w, b, x, target, threshold=lambda z: z >= 0, sign=1, bias=True, always=False):
    output = 1 if threshold(b + np.dot(w, x)) else 0
    error = target if always else target - output
    return w + sign * error * x, (b + sign * error) if bias else b


def test_perceptron_rule_passes_rosenblatt_and_names_each_slip(capsys):
    assert checks.perceptron_rule(rosenblatt)
    assert "Rosenblatt's rule" in capsys.readouterr().out
    slips = {
        "the sign is swapped": lambda w, b, x, t: rosenblatt(w, b, x, t, sign=-1),
        "the threshold learns too": lambda w, b, x, t: rosenblatt(w, b, x, t, bias=False),
        "changes nothing": lambda w, b, x, t: rosenblatt(w, b, x, t, always=True),
        r"compare with >= 0, not > 0": lambda w, b, x, t: rosenblatt(w, b, x, t, threshold=lambda z: z > 0),
        "adds the whole feature vector": lambda w, b, x, t: (
            w + 0.1 * (t - (b + w @ x >= 0)) * x, b + 0.1 * (t - (b + w @ x >= 0))),
        r"return the pair \(w, b\)": lambda w, b, x, t: rosenblatt(w, b, x, t)[0],
    }
    for message, step in slips.items():
        with pytest.raises(Fail, match=message):
            checks.perceptron_rule(step)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def logistic_loss(theta, X, y, scale=1.0, loss_sign=1, gradient_sign=1):
    f = sigmoid(X @ theta)
    loss = -np.sum(y * np.log(f) + (1 - y) * np.log(1 - f))
    return loss_sign * scale * loss, -gradient_sign * scale * X.T @ (y - f)


def test_logistic_regression_passes_the_lecture_formulas_and_names_each_slip():
    assert checks.logistic_regression(sigmoid, logistic_loss)
    with pytest.raises(Fail, match=r"sigma\(-z\)"):
        checks.logistic_regression(lambda z: 1 / (1 + np.exp(z)), logistic_loss)
    with pytest.raises(Fail, match="sigma\\(0\\) = 0.5"):
        checks.logistic_regression(np.tanh, logistic_loss)
    slips = {
        "minus sign is missing": lambda t, X, y: logistic_loss(t, X, y, loss_sign=-1),
        "yours averages: np.sum, not np.mean": lambda t, X, y: logistic_loss(t, X, y, scale=1 / len(y)),
        "the sign is flipped": lambda t, X, y: logistic_loss(t, X, y, gradient_sign=-1),
        "one partial derivative per parameter": lambda t, X, y: (logistic_loss(t, X, y)[0],
                                                                 logistic_loss(t, X, y)[1][:2]),
        r"return the pair \(L, gradient\)": lambda t, X, y: logistic_loss(t, X, y)[0],
    }
    for message, loss_and_gradient in slips.items():
        with pytest.raises(Fail, match=message):
            checks.logistic_regression(sigmoid, loss_and_gradient)


def one_layer(activation="sigmoid", hidden=0, loss=None):
    layers = [keras.layers.Dense(3, activation="sigmoid")] * bool(hidden)
    model = sequential(*layers, keras.layers.Dense(1, activation=activation), shape=(2,))
    if loss is not None:
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss)
    return model


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")
def test_logistic_model_wants_one_sigmoid_unit_and_the_summed_loss():
    assert checks.logistic_model(one_layer(loss=keras.losses.BinaryCrossentropy(reduction="sum")))
    cases = {
        "add activation='sigmoid'": one_layer(activation=None, loss="binary_crossentropy"),
        "a softmax over a single unit": one_layer(activation="softmax", loss="binary_crossentropy"),
        "one layer, sigma": one_layer(hidden=3, loss="binary_crossentropy"),
        "not compiled yet": one_layer(),
        r"averages over the batch.*reduction='sum'": one_layer(loss="binary_crossentropy"),
        "is the binary cross-entropy": one_layer(loss="mse"),
        "from_logits=True": one_layer(loss=keras.losses.BinaryCrossentropy(from_logits=True,
                                                                           reduction="sum")),
    }
    for message, model in cases.items():
        with pytest.raises(Fail, match=message):
            checks.logistic_model(model)


def xor_model(*hidden, weights=None):
    model = sequential(*hidden, keras.layers.Dense(1, activation="sigmoid"), shape=(2,))
    if weights is not None:
        model.set_weights(weights)
    return model


def test_xor_passes_a_network_that_computes_it_and_explains_the_rest(capsys):
    # Hidden unit 1 is OR, unit 2 is AND; the output is "OR and not AND": XOR, by hand.
    hidden = keras.layers.Dense(2, activation="sigmoid")
    solved = xor_model(hidden, weights=[np.array([[20.0, 20.0], [20.0, 20.0]]), np.array([-10.0, -30.0]),
                                        np.array([[20.0], [-20.0]]), np.array([-10.0])])
    assert checks.xor(solved)
    assert "lecture 001: 0.03 0.96 0.97 0.03" in capsys.readouterr().out
    with pytest.raises(Fail, match="no line separates XOR"):
        checks.xor(xor_model())
    with pytest.raises(Fail, match="has no activation"):
        checks.xor(xor_model(keras.layers.Dense(2)))
    stuck = xor_model(keras.layers.Dense(2, activation="sigmoid"),
                      weights=[np.zeros((2, 2)), np.zeros(2), np.zeros((2, 1)), np.zeros(1)])
    with pytest.raises(Fail, match="local minimum"):
        checks.xor(stuck)
    with pytest.raises(Fail, match="not trained enough"):
        weak = [np.eye(2) * 5, np.zeros(2), np.array([[3.0], [3.0]]), np.array([-4.0])]
        checks.xor(xor_model(keras.layers.Dense(2, activation="sigmoid"), weights=weak))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(y, t):
    return -np.sum(t * np.log(y), axis=-1)


def test_softmax_cross_entropy_passes_and_names_each_slip():
    assert checks.softmax_cross_entropy(softmax, cross_entropy)
    softmax_slips = {
        "each column sums to 1": lambda z: np.exp(z) / np.exp(z).sum(axis=0, keepdims=True),
        "e\\^1000 overflows": lambda z: np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True),
        "the rows do not sum to 1": lambda z: np.exp(z),
        "one probability per example and class": lambda z: softmax(z)[:, 0],
    }
    for message, wrong in softmax_slips.items():
        with pytest.raises(Fail, match=message):
            checks.softmax_cross_entropy(wrong, cross_entropy)
    cross_entropy_slips = {
        "one C per example": lambda y, t: np.mean(cross_entropy(y, t)),
        "minus sign is missing": lambda y, t: np.sum(t * np.log(y), axis=-1),
        "not finite": lambda y, t: -np.sum(y * np.log(t), axis=-1),
        "negative log probability of the target class": lambda y, t: -np.sum(t * y, axis=-1),
    }
    for message, wrong in cross_entropy_slips.items():
        with pytest.raises(Fail, match=message):
            checks.softmax_cross_entropy(softmax, wrong)


def test_cross_entropy_gradient_agrees_with_gradient_tape_and_names_each_slip(capsys):
    assert checks.cross_entropy_gradient(lambda z, t: softmax(z) - t)
    assert "agrees with tf.GradientTape" in capsys.readouterr().out
    slips = {
        "the sign is flipped": lambda z, t: t - softmax(z),
        "one term of the chain rule": lambda z, t: softmax(z) * (1 - softmax(z)),
        "not the logits": lambda z, t: z - t,
        "averaged over the examples": lambda z, t: (softmax(z) - t) / len(z),
        "the shape of z": lambda z, t: (softmax(z) - t).sum(axis=0),
    }
    for message, gradient in slips.items():
        with pytest.raises(Fail, match=message):
            checks.cross_entropy_gradient(gradient)


def momentum_step(w, v, gradient, learning_rate, momentum=0.9, weight_decay=0.0):
    v = momentum * v - weight_decay * learning_rate * w - learning_rate * gradient
    return w + v, v


def test_momentum_sgd_matches_keras_and_names_each_slip():
    assert checks.momentum_sgd(momentum_step)

    def step(formula):
        def update(w, v, gradient, learning_rate, momentum=0.9, weight_decay=0.0):
            return formula(w, v, gradient, learning_rate, momentum, weight_decay)
        return update

    slips = {
        "with the old v": step(lambda w, v, g, lr, m, d: (w + v, m * v - d * lr * w - lr * g)),
        "that is plain SGD": step(lambda w, v, g, lr, m, d: momentum_step(w, 0 * v, g, lr, m, d)),
        "Nesterov": step(lambda w, v, g, lr, m, d: (
            w + m * (m * v - lr * (g + d * w)) - lr * (g + d * w), m * v - lr * (g + d * w))),
        "multiply weight_decay by the learning rate": step(lambda w, v, g, lr, m, d: (
            w + m * v - d * w - lr * g, m * v - d * w - lr * g)),
        "decoupled weight_decay": step(lambda w, v, g, lr, m, d: (
            w - d * lr * w + m * v - lr * g, m * v - lr * g)),
        "weight_decay is ignored": step(lambda w, v, g, lr, m, d: momentum_step(w, v, g, lr, m)),
        "instead of a fixed 0.9": step(lambda w, v, g, lr, m, d: momentum_step(w, v, g, lr, 0.9, d)),
        "the gradient is added": step(lambda w, v, g, lr, m, d: momentum_step(w, v, -g, lr, m, d)),
        "opposite sign": step(lambda w, v, g, lr, m, d: (
            w - (m * v + d * lr * w + lr * g), m * v + d * lr * w + lr * g)),
        r"return the pair \(w, v\)": step(lambda w, v, g, lr, m, d: momentum_step(w, v, g, lr, m, d)[0]),
        r"momentum_step must take": lambda w, v, gradient, learning_rate: (w, v),
    }
    for message, update in slips.items():
        with pytest.raises(Fail, match=message):
            checks.momentum_sgd(update)


def test_conv_output_size_passes_the_formula_and_names_each_slip():
    import math

    assert checks.conv_output_size(lambda W, F, S=1, P=0: (W - F + 2 * P) // S + 1)
    slips = {
        r"the \+1 is missing": lambda W, F, S=1, P=0: (W - F + 2 * P) // S,
        "2P, not P": lambda W, F, S=1, P=0: (W - F + P) // S + 1,
        "round down": lambda W, F, S=1, P=0: math.ceil((W - F + 2 * P) / S) + 1,
        "the \\+1 comes after": lambda W, F, S=1, P=0: (W - F + 2 * P) // (S + 1),
        "integer division": lambda W, F, S=1, P=0: (W - F + 2 * P) / S + 1,
        "return an int": lambda W, F, S=1, P=0: str((W - F + 2 * P) // S + 1),
    }
    for message, size in slips.items():
        with pytest.raises(Fail, match=message):
            checks.conv_output_size(size)


def lecture_conv(kernel=checks.LECTURE_KERNEL, padding="valid", image=checks.LECTURE_CONV_INPUT):
    conv = keras.layers.Conv2D(1, 3, use_bias=False, padding=padding)
    conv.build((1, 5, 5, 1))
    conv.set_weights([np.asarray(kernel).reshape(3, 3, 1, 1)])
    return conv(np.asarray(image).reshape(1, 5, 5, 1)).numpy()


def test_lecture_convolution_is_reproduced_exactly_by_conv2d():
    assert checks.lecture_convolution(lecture_conv())
    assert checks.lecture_convolution(lecture_conv()[0, :, :, 0])
    with pytest.raises(Fail, match="textbook convolution, with the kernel flipped"):
        checks.lecture_convolution(lecture_conv(kernel=checks.LECTURE_KERNEL[::-1, ::-1]))
    with pytest.raises(Fail, match="the kernel is transposed"):
        checks.lecture_convolution(lecture_conv(kernel=checks.LECTURE_KERNEL.T))
    with pytest.raises(Fail, match="rows and columns are swapped"):
        transposed = lecture_conv(kernel=checks.LECTURE_KERNEL.T, image=checks.LECTURE_CONV_INPUT.T)
        checks.lecture_convolution(transposed)
    with pytest.raises(Fail, match="padding='valid'"):
        checks.lecture_convolution(lecture_conv(padding="same"))
    unset = keras.layers.Conv2D(1, 3, use_bias=False)(checks.LECTURE_CONV_INPUT.reshape(1, 5, 5, 1))
    with pytest.raises(Fail, match=r"set_weights"):
        checks.lecture_convolution(unset)


def test_lecture_pooling_is_reproduced_exactly_by_max_pooling():
    x = checks.LECTURE_POOL_INPUT.reshape(1, 4, 4, 1)
    assert checks.lecture_pooling(keras.layers.MaxPooling2D(2)(x))
    with pytest.raises(Fail, match="average pooling"):
        checks.lecture_pooling(keras.layers.AveragePooling2D(2)(x))
    with pytest.raises(Fail, match="moved by 1"):
        checks.lecture_pooling(keras.layers.MaxPooling2D(2, strides=1)(x))
    with pytest.raises(Fail, match="rows and columns are swapped"):
        checks.lecture_pooling(keras.layers.MaxPooling2D(2)(checks.LECTURE_POOL_INPUT.T.reshape(1, 4, 4, 1)))


def lenet_layers(padding="valid", pool=True, c3=16, c5_dense=False, output="softmax"):
    pooling = [keras.layers.AveragePooling2D(2)] if pool else []
    c5 = ([keras.layers.Flatten(), keras.layers.Dense(120, activation="tanh")] if c5_dense
          else [keras.layers.Conv2D(120, 5, activation="tanh"), keras.layers.Flatten()])
    return [keras.layers.Conv2D(6, 5, activation="tanh", padding=padding), *pooling,
            keras.layers.Conv2D(c3, 5, activation="tanh"), keras.layers.AveragePooling2D(2), *c5,
            keras.layers.Dense(84, activation="tanh"), keras.layers.Dense(10, activation=output)]


def test_lenet5_counts_keras_parameters_layer_by_layer(capsys):
    assert checks.lenet5(sequential(*lenet_layers(), shape=(32, 32, 1)))
    assert "61,706 in total" in capsys.readouterr().out
    assert checks.lenet5(sequential(*lenet_layers(c5_dense=True), shape=(32, 32, 1)))
    cases = {
        "padding='same' keeps 32x32": lenet_layers(padding="same"),
        "S2 is missing": lenet_layers(pool=False),
        r"C3 should be Conv2D\(16, 5\).*with 2,416 parameters; yours .* with 1,812": lenet_layers(c3=12),
        "activation='softmax'": lenet_layers(output="sigmoid"),
        "output is missing": lenet_layers()[:-1],
        "remove 'extra'": [*lenet_layers(), keras.layers.Dense(10, name="extra")],
    }
    for message, layers in cases.items():
        with pytest.raises(Fail, match=message):
            checks.lenet5(sequential(*layers, shape=(32, 32, 1)))
    with pytest.raises(Fail, match=r"keras.Input\(shape=\(32, 32, 1\)\)"):
        checks.lenet5(sequential(*lenet_layers(), shape=(32, 32, 3)))


def test_lenet5_paper_counts_explain_each_difference_from_keras(capsys):
    right = {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164, "output": 840}
    assert checks.lenet5_paper_counts(right)
    assert "60,840 in total (60,000 without the RBF output)" in capsys.readouterr().out
    slips = {("C3", 2416): "Table I connects each C3 map", ("C3", 1500): "one bias",
             ("S2", 0): "subsampling is trainable", ("S4", 0): "one coefficient and one bias per map",
             ("output", 850): "no bias", ("C5", 48000): "also has a bias", ("F6", 1): "the paper's 10,164"}
    for (name, value), message in slips.items():
        with pytest.raises(Fail, match=message):
            checks.lenet5_paper_counts({**right, name: value})
    with pytest.raises(Fail, match=r"lacks \['output'\]"):
        checks.lenet5_paper_counts({key: value for key, value in right.items() if key != "output"})


# --------------------------------------------------------------------------- lab 11: text

WORDS = ["film", "movie", "plot", "acting", "music", "story", "scene", "actor", "director", "script",
         "ending", "camera", "cast", "hero", "villain", "dialogue", "effects", "budget", "sequel", "comedy",
         "drama", "horror", "romance", "thriller", "twist"]
REVIEWS = np.array([f"The {WORDS[i % 25]} was {['great', 'awful'][i % 2]}.<br /><br />"
                    f"{WORDS[(3 * i) % 25].title()} and {WORDS[(7 * i + 1) % 25]} #{i}!" for i in range(48)],
                   dtype=object)
REVIEW_LABELS = np.arange(48) % 2 == 0
TEST_REVIEWS = np.array(["An unseen review about zebras and zeppelins", "zebras again"], dtype=object)


def adapted(texts=REVIEWS, vocab_size=80, sequence_length=10):
    from workbench import text

    return text.adapt(text.vectorizer(vocab_size, sequence_length), texts)


def test_text_vectorizer_passes_the_training_vocabulary_and_names_each_slip(capsys):
    import tensorflow as tf

    from workbench import text

    assert checks.text_vectorizer(adapted(), REVIEWS, 80, 10, test_text=TEST_REVIEWS)
    assert "'' = 0 padding, '[UNK]' = 1" in capsys.readouterr().out
    written = keras.layers.TextVectorization(max_tokens=80, output_mode="int", output_sequence_length=10,
                                             standardize=text.standardize_review)
    written.adapt(tf.data.Dataset.from_tensor_slices(REVIEWS).batch(7))
    assert checks.text_vectorizer(written, REVIEWS, 80, 10)
    default = keras.layers.TextVectorization(max_tokens=80, output_mode="int", output_sequence_length=10)
    default.adapt(REVIEWS.astype(str))
    raw = keras.layers.TextVectorization(max_tokens=80, output_mode="int", output_sequence_length=10,
                                         standardize=None)
    raw.adapt(REVIEWS.astype(str))
    cases = {
        "'br' is word .* HTML line breaks": default,
        "was not standardized": raw,
        "vocabulary is empty": text.vectorizer(80, 10),
        "max_tokens=50, expected vocab_size = 80": adapted(vocab_size=50),
        "output_sequence_length=20, expected sequence_length = 10": adapted(sequence_length=20),
        "training AND the test reviews": adapted(np.concatenate([REVIEWS, TEST_REVIEWS])),
        "not the one learnt from all of train_text": adapted(REVIEWS[:20]),
    }
    for message, layer in cases.items():
        with pytest.raises(Fail, match=message):
            checks.text_vectorizer(layer, REVIEWS, 80, 10, test_text=TEST_REVIEWS)
    counts = keras.layers.TextVectorization(max_tokens=80, output_mode="count")
    with pytest.raises(Fail, match="output_mode='int'"):
        checks.text_vectorizer(counts, REVIEWS, 80, 10)


def review_pipeline(vectorizer, batch_size=4, shuffle="reviews", vectorize=True, prefetch=True,
                    labels=REVIEW_LABELS):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((REVIEWS, labels))
    if shuffle == "reviews":
        dataset = dataset.shuffle(len(REVIEWS), seed=0)
    elif shuffle == "small buffer":
        dataset = dataset.shuffle(2, seed=0)
    dataset = dataset.batch(batch_size)
    if shuffle == "batches":
        dataset = dataset.shuffle(100, seed=0)
    if vectorize:
        dataset = dataset.map(lambda reviews, labels: (vectorizer(reviews), labels))
    return dataset.prefetch(2) if prefetch else dataset


def test_text_pipeline_looks_up_every_pair_of_the_first_batch(capsys):
    import tensorflow as tf

    layer = adapted()
    assert checks.text_pipeline(review_pipeline(layer), layer, REVIEWS, REVIEW_LABELS, batch_size=4)
    assert "shuffled batches of 4 (ids int64 of shape (4, 10)" in capsys.readouterr().out
    swapped = np.random.default_rng(0).permutation(REVIEW_LABELS)
    cases = {
        "gives raw strings": review_pipeline(layer, vectorize=False),
        "first 4 training reviews in order": review_pipeline(layer, shuffle="none"),
        "only reorders whole batches": review_pipeline(layer, shuffle="batches"),
        "shuffle buffer is too small": review_pipeline(layer, shuffle="small buffer"),
        r"shape \(5, 10\), expected \(4, 10\)": review_pipeline(layer, batch_size=5),
        "\\.prefetch\\(tf.data.AUTOTUNE\\)": review_pipeline(layer, prefetch=False),
        "labels do not belong to their reviews": review_pipeline(layer, labels=swapped),
        "one review \\(10 ids\\)": tf.data.Dataset.from_tensor_slices((REVIEWS, REVIEW_LABELS)).map(
            lambda review, label: (layer(review), label)),
        "never ends": review_pipeline(layer).repeat(),
    }
    for message, dataset in cases.items():
        with pytest.raises(Fail, match=message):
            checks.text_pipeline(dataset, layer, REVIEWS, REVIEW_LABELS, batch_size=4)
    other = adapted(np.concatenate([REVIEWS, TEST_REVIEWS]))
    with pytest.raises(Fail, match="not the one learnt from all of train_text"):
        checks.text_pipeline(review_pipeline(other), other, REVIEWS, REVIEW_LABELS, batch_size=4)


def bilstm_layers(vocab_size=20000, mask_zero=True, units=64, last=None, dropout=True):
    return [
        keras.layers.Embedding(vocab_size, 64, mask_zero=mask_zero),
        keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(32)),
        keras.layers.Dense(64, activation="relu"),
        *([keras.layers.Dropout(0.5)] if dropout else []),
        keras.layers.Dense(1, activation=last),
    ]


def bilstm(**options):
    return keras.Sequential([keras.Input(shape=(None,), dtype="int64"), *bilstm_layers(**options)])


def test_text_model_sees_masking_the_vocabulary_and_the_logit(capsys):
    assert checks.text_model(bilstm(), 20000)
    assert "1,391,489 parameters" in capsys.readouterr().out
    assert checks.text_model(bilstm(vocab_size=5000), 5000)
    assert checks.model(bilstm(), "imdb_bilstm")  # the generic check passes the lecture's model ...
    assert checks.model(bilstm(mask_zero=False), "imdb_bilstm")  # ... and cannot see the masking
    cases = {
        "does not mask the padding.*mask_zero=True": bilstm(mask_zero=False),
        "encoder.vocab_size": bilstm(vocab_size=10000),
        "activation='sigmoid'.*logit": bilstm(last="sigmoid"),
        r"layer 2 should be Bidirectional\(LSTM\(64, return_sequences=True\)\), yours is "
        r"Bidirectional\(LSTM\(128": bilstm(units=128),
        r"layer 5 should be Dropout\(rate=0.5\)": bilstm(dropout=False),
        "keras.Input": keras.Sequential(bilstm_layers()),
    }
    for message, model in cases.items():
        with pytest.raises(Fail, match=message):
            checks.text_model(model, 20000)


def compiled_bilstm(**settings):
    model = bilstm(vocab_size=100)
    options = {"optimizer": keras.optimizers.Adam(global_clipnorm=1.0),
               "loss": keras.losses.BinaryCrossentropy(from_logits=True),
               "metrics": [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")], **settings}
    model.compile(**options)
    return model


def test_compiled_text_names_the_logit_and_clipping_mistakes(capsys):
    assert checks.compiled_text(compiled_bilstm())
    assert "global_clipnorm=1" in capsys.readouterr().out
    cases = {
        "expects probabilities.*from_logits=True": [{"loss": "binary_crossentropy"},
                                                   {"loss": keras.losses.BinaryCrossentropy()}],
        "accuracy at probability 0.5.*threshold=0.0": [{"metrics": ["accuracy"]}],
        r"BinaryAccuracy\(threshold=0.5\)": [{"metrics": [keras.metrics.BinaryAccuracy(name="accuracy")]}],
        "named 'binary_accuracy'": [{"metrics": [keras.metrics.BinaryAccuracy(threshold=0.0)]}],
        "no accuracy": [{"metrics": []}],
        "each variable's gradient": [{"optimizer": keras.optimizers.Adam(clipnorm=1.0)}],
        "every gradient element": [{"optimizer": keras.optimizers.Adam(clipvalue=1.0)}],
        "not clipped": [{"optimizer": keras.optimizers.Adam()}],
        "global_clipnorm=5": [{"optimizer": keras.optimizers.Adam(global_clipnorm=5.0)}],
        "is SGD; .* Adam": [{"optimizer": keras.optimizers.SGD(global_clipnorm=1.0)}],
        "learning rate 0.01": [{"optimizer": keras.optimizers.Adam(0.01, global_clipnorm=1.0)}],
        "the loss is 'sparse_categorical_crossentropy'": [{"loss": "sparse_categorical_crossentropy"}],
    }
    for message, variants in cases.items():
        for settings in variants:
            with pytest.raises(Fail, match=message):
                checks.compiled_text(compiled_bilstm(**settings))
    with pytest.raises(Fail, match="not compiled"):
        checks.compiled_text(bilstm(vocab_size=100))


def test_text_end_to_end_reads_raw_strings_and_reloads(tmp_path, capsys):
    from workbench import text

    layer = adapted()
    keras.utils.set_random_seed(0)
    model = bilstm(vocab_size=80)
    complete = text.end_to_end(layer, model)
    path = tmp_path / "sentiment.keras"
    complete.save(path)
    reloaded = text.load(path)
    assert checks.text_end_to_end(complete, reloaded, model, layer, path, sentences=["a great film"])
    assert "the same on 5 reviews" in capsys.readouterr().out
    strings = keras.Input(shape=(1,), dtype="string")
    logits = keras.Model(strings, model(layer(strings)))
    with pytest.raises(Fail, match="gives the model's logits"):
        checks.text_end_to_end(logits, reloaded, model, layer, path)
    with pytest.raises(Fail, match="fails on raw strings|must take them"):
        checks.text_end_to_end(model, reloaded, model, layer, path)
    with pytest.raises(Fail, match="reloaded is end_to_end itself"):
        checks.text_end_to_end(complete, complete, model, layer, path)
    with pytest.raises(Fail, match="nothing is saved"):
        checks.text_end_to_end(complete, reloaded, model, layer, tmp_path / "missing.keras")
    with pytest.raises(Fail, match="not a .keras file"):
        checks.text_end_to_end(complete, reloaded, model, layer, tmp_path / "sentiment.h5")
    model.save(tmp_path / "ids.keras")
    with pytest.raises(Fail, match="fails on raw strings"):
        checks.text_end_to_end(complete, keras.models.load_model(tmp_path / "ids.keras"), model, layer, path)
    other = bilstm(vocab_size=80)
    with pytest.raises(Fail, match="predicts differently"):
        checks.text_end_to_end(complete, text.end_to_end(layer, other), model, layer, path)


# --------------------------------------------------------------------------- lab 12: Fashion-MNIST


def fashion_predictions(n=400, seed=0):
    """Labels and probabilities of a plausible classifier: right mostly, shirts often called T-shirts."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    predicted = np.where(rng.random(n) < 0.8, labels, rng.integers(0, 10, n))
    predicted[(labels == 6) & (rng.random(n) < 0.5)] = 0
    return labels, np.eye(10)[predicted] * 0.9 + 0.01, predicted


def test_confusion_matrix_passes_np_add_at_and_names_each_slip(capsys):
    labels, probabilities, predicted = fashion_predictions()
    right = np.zeros((10, 10), dtype=int)
    np.add.at(right, (labels, predicted), 1)
    assert checks.confusion_matrix(right, labels, probabilities, class_names=[str(i) for i in range(10)])
    assert "counts all 400 test images" in capsys.readouterr().out
    with pytest.raises(Fail, match="transposed: the rows must be the true classes"):
        checks.confusion_matrix(right.T, labels, probabilities)
    once = np.zeros((10, 10), dtype=int)
    once[labels, predicted] += 1  # the classic slip: a repeated index is written once
    with pytest.raises(Fail, match=r"np.add.at\(confusion, \(labels, predicted\), 1\)"):
        checks.confusion_matrix(once, labels, predicted)
    with pytest.raises(Fail, match="holds fractions; count images first"):
        checks.confusion_matrix(right / right.sum(axis=1, keepdims=True), labels, predicted)
    with pytest.raises(Fail, match=r"shape \(9, 9\).*np.zeros\(\(10, 10\), dtype=int\)"):
        checks.confusion_matrix(right[:9, :9], labels, predicted)
    with pytest.raises(Fail, match="adds up to 399, but there are 400 test images"):
        checks.confusion_matrix(right - np.eye(10, dtype=int) * (right.diagonal() == right.diagonal().max()),
                                labels, predicted)


def test_per_class_accuracy_divides_by_the_row_sums(capsys):
    labels, probabilities, predicted = fashion_predictions()
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"]
    assert checks.per_class_accuracy(counts.diagonal() / counts.sum(axis=1), labels, probabilities, names)
    assert "(Shirt)" in capsys.readouterr().out  # the class half called T-shirts is the worst
    with pytest.raises(Fail, match="column sums.*that is precision"):
        checks.per_class_accuracy(counts.diagonal() / counts.sum(axis=0), labels, predicted)
    with pytest.raises(Fail, match="divides by all test images"):
        checks.per_class_accuracy(counts.diagonal() / counts.sum(), labels, predicted)
    with pytest.raises(Fail, match="in percent"):
        checks.per_class_accuracy(100 * counts.diagonal() / counts.sum(axis=1), labels, predicted)
    with pytest.raises(Fail, match="one accuracy per class, 10"):
        checks.per_class_accuracy(counts.diagonal()[:5], labels, predicted)


# --------------------------------------------------------------------------- lab 13: CIFAR-10


def make_residual_block(padding="same", project=True, final_relu=True, shortcut=True, use_bias=False,
                        momentum=0.9, always_project=False):
    def block(x, filters, stride=1):
        layers = keras.layers
        y = layers.Conv2D(filters, 3, strides=stride, padding=padding, use_bias=use_bias)(x)
        y = layers.BatchNormalization(momentum=momentum)(y)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(filters, 3, padding=padding, use_bias=use_bias)(y)
        y = layers.BatchNormalization(momentum=momentum)(y)
        if not shortcut:
            return layers.Activation("relu")(y)
        if project and (always_project or stride != 1 or x.shape[-1] != filters):
            x = layers.Conv2D(filters, 1, strides=stride, use_bias=use_bias)(x)
            x = layers.BatchNormalization(momentum=momentum)(x)
        z = layers.add([x, y])
        return layers.Activation("relu")(z) if final_relu else z
    return block


def test_residual_block_passes_the_reference_and_names_each_slip(capsys):
    from workbench import blocks

    assert checks.residual_block(blocks.residual_block)
    assert checks.residual_block(make_residual_block())
    assert "relu(x) when the branch is zero" in capsys.readouterr().out
    with pytest.raises(Fail, match=r"8x8, 6x6, 4x4.*padding=\"same\"\) keeps the size"):
        checks.residual_block(make_residual_block(padding="valid"))
    with pytest.raises(Fail, match=r"Conv2D\(filters, 1, strides=stride\)"):
        checks.residual_block(make_residual_block(project=False))
    with pytest.raises(Fail, match="use_bias=False"):
        checks.residual_block(make_residual_block(use_bias=True))
    with pytest.raises(Fail, match=r"momentum \[0.99\]"):
        checks.residual_block(make_residual_block(momentum=0.99))
    with pytest.raises(Fail, match="apply the relu after the add"):
        checks.residual_block(make_residual_block(final_relu=False))
    with pytest.raises(Fail, match="parameters, the reference block"):  # no shortcut: no projection weights
        checks.residual_block(make_residual_block(shortcut=False))
    with pytest.raises(Fail, match="parameters, the reference block"):
        checks.residual_block(make_residual_block(always_project=True))


def test_residual_block_that_adds_x_only_when_projecting_is_told_to_add_it():
    from workbench import blocks

    def forgets_identity(x, filters, stride=1):
        if stride != 1 or x.shape[-1] != filters:
            return blocks.residual_block(x, filters, stride)
        y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        y = keras.layers.BatchNormalization(momentum=0.9)(y)
        y = keras.layers.Activation("relu")(y)
        y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = keras.layers.BatchNormalization(momentum=0.9)(y)
        return keras.layers.Activation("relu")(y)

    with pytest.raises(Fail, match="x is not added back"):
        checks.residual_block(forgets_identity)


def make_squeeze_excite(pool="avg", first="relu", last="sigmoid", combine="multiply", units=None):
    def block(u, ratio=8):
        layers = keras.layers
        channels = u.shape[-1]
        z = (layers.GlobalAveragePooling2D() if pool == "avg" else layers.GlobalMaxPooling2D())(u)
        s = layers.Dense(units or channels // ratio, activation=first)(z)
        s = layers.Dense(channels, activation=last)(s)
        s = layers.Reshape((1, 1, channels))(s)
        return (layers.Multiply() if combine == "multiply" else layers.Add())([u, s])
    return block


def test_squeeze_excite_is_checked_against_numpy_and_names_each_slip(capsys):
    from workbench import blocks

    def package(u, ratio=8):
        return blocks.squeeze_excite(u, ratio=ratio)

    assert checks.squeeze_excite(package)
    assert checks.squeeze_excite(make_squeeze_excite())
    assert "equal to NumPy's" in capsys.readouterr().out
    slips = {
        "each channel's maximum": make_squeeze_excite(pool="max"),
        r"the relu \(delta\) after W1 is missing": make_squeeze_excite(first=None),
        "not squashed by the sigmoid": make_squeeze_excite(last=None),
        "activations are swapped": make_squeeze_excite(first="sigmoid", last="relu"),
        "s is added to u": make_squeeze_excite(combine="add"),
        "W1 has 8 units; the bottleneck is C/r = 32/8 = 4": make_squeeze_excite(units=8),
    }
    for message, block in slips.items():
        with pytest.raises(Fail, match=message):
            checks.squeeze_excite(block)

    def gate_only(u, ratio=8):
        s = keras.layers.GlobalAveragePooling2D()(u)
        s = keras.layers.Dense(u.shape[-1] // ratio, activation="relu")(s)
        return keras.layers.Dense(u.shape[-1], activation="sigmoid")(s)

    with pytest.raises(Fail, match=r"gives \(32,\) for u of shape \(6, 5, 32\)"):
        checks.squeeze_excite(gate_only)


def make_mixup(same_lambda=True, mix_labels=True, mix_images=True, swap=False, draw="beta", seed=None,
               label_weight_sum=True):
    rng = np.random.default_rng(None if seed == "fixed" else seed)

    def mixup(images, labels, alpha):
        generator = np.random.default_rng(0) if seed == "fixed" else rng
        n = len(images)
        lam = generator.beta(alpha, alpha, n) if draw == "beta" else generator.random(n)
        lam_y = lam if same_lambda else generator.beta(alpha, alpha, n)
        lam_x = 1 - lam if swap else lam
        partner = generator.permutation(n)
        wx = lam_x.reshape(-1, 1, 1, 1)
        wy = lam_y.reshape(-1, 1)
        x = wx * images + (1 - wx) * images[partner] if mix_images else images
        other = (1 - wy) if label_weight_sum else wy
        y = wy * labels + other * labels[partner] if mix_labels else labels
        return x, y
    return mixup


def test_mixup_property_test_passes_per_sample_and_per_batch_lambda(capsys):
    from workbench.data.pipeline import mixup as package_mixup

    assert checks.mixup(make_mixup())
    assert "same lam ~ Beta(alpha, alpha)" in capsys.readouterr().out
    rng = np.random.default_rng(1)

    def per_batch(images, labels, alpha):  # Zhang et al.'s code: one lambda for the whole batch
        lam, partner = rng.beta(alpha, alpha), rng.permutation(len(images))
        return lam * images + (1 - lam) * images[partner], lam * labels + (1 - lam) * labels[partner]

    assert checks.mixup(per_batch)
    seeds = iter(range(10_000))
    assert checks.mixup(lambda x, y, alpha: package_mixup(x, y, alpha, seed=[next(seeds), 0]))


def test_mixup_names_each_slip():
    slips = {
        "use the same lam for the image and its label": make_mixup(same_lambda=False),
        "the images are mixed but the labels are still one-hot": make_mixup(mix_labels=False),
        "the labels are mixed but the images are not": make_mixup(mix_images=False),
        "lam and 1 - lam are swapped": make_mixup(swap=True),
        r"Beta\(alpha, alpha\) gives about 0.90 and 0.75": make_mixup(draw="uniform"),
        "two calls mixed the batch identically": make_mixup(seed="fixed"),
        "sums to .*, not 1": make_mixup(label_weight_sum=False),
    }
    for message, mix in slips.items():
        with pytest.raises(Fail, match=message):
            checks.mixup(mix)
    with pytest.raises(Fail, match="must return two arrays"):
        checks.mixup(lambda x, y, alpha: x)
    with pytest.raises(Fail, match="returned the batch unchanged"):
        checks.mixup(lambda x, y, alpha: (x, y))


def test_a_sequential_model_matches_a_functional_registry_entry():
    # The TensorFlow tutorial writes its CIFAR CNN with Sequential; the registry's is functional.
    import keras

    layers = keras.layers
    tutorial = keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    assert checks.model(tutorial, "cifar_cnn")
    no_softmax = keras.Sequential([keras.Input(shape=(32, 32, 3)), *tutorial.layers[:-1], layers.Dense(10)])
    with pytest.raises(checks.CheckFailed, match="layer 8 should be Dense"):
        checks.model(no_softmax, "cifar_cnn")


@pytest.mark.parametrize("loss", [
    "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
    keras.losses.sparse_categorical_crossentropy,  # the function: the lecture's Horovod listing
    keras.losses.SparseCategoricalCrossentropy(),
])
def test_compiled_accepts_every_correct_way_to_name_the_loss(loss):
    model = models.build("mnist_dense")
    model.compile(optimizer=training.lecture_optimizer(), loss=loss, metrics=["accuracy"])
    assert checks.compiled(model)


@pytest.mark.parametrize("loss, message", [
    (keras.losses.categorical_crossentropy, "expects one-hot labels"),
    ("CategoricalCrossentropy", "expects one-hot labels"),
    (keras.losses.MeanSquaredError(), "mean squared error is for regression"),
    ("mse", "mean squared error is for regression"),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), "softmax would be applied twice"),
])
def test_compiled_still_names_a_wrong_loss_however_it_is_given(loss, message):
    model = models.build("mnist_dense")
    model.compile(optimizer=training.lecture_optimizer(), loss=loss, metrics=["accuracy"])
    with pytest.raises(Fail, match=message):
        checks.compiled(model)


# --------------------------------------------------------------------------- lab 06: HParams

def fashion_builder(units_from=None, rate_from=None, swap=False):
    """A participant's build_model(num_units, dropout), right or with one of the usual slips."""
    def build_model(num_units, dropout):
        if swap:
            num_units, dropout = dropout, num_units
        return keras.Sequential([
            keras.Input(shape=(28, 28)), keras.layers.Flatten(),
            keras.layers.Dense(units_from or num_units, activation="relu"),
            keras.layers.Dropout(rate_from or dropout),
            keras.layers.Dense(10, activation="softmax")])
    return build_model


BUILDER_SETTINGS = [{"num_units": 16, "dropout": 0.1}, {"num_units": 64, "dropout": 0.3}]


def test_model_builder_passes_a_builder_that_follows_its_arguments(capsys):
    assert checks.model_builder(fashion_builder(), "fashion_dense", BUILDER_SETTINGS)
    assert "2 settings" in capsys.readouterr().out


@pytest.mark.parametrize("builder, problem", [
    (fashion_builder(units_from=16),
     r"build_model\(num_units=64, dropout=0.3\): layer 2 should be Dense\(64"),
    (fashion_builder(rate_from=0.1), r"build_model\(num_units=64, dropout=0.3\): layer 3 should be "
                                     r"Dropout\(rate=0.3\), yours is Dropout\(rate=0.1\)"),
])
def test_model_builder_names_the_argument_a_builder_ignores(builder, problem):
    with pytest.raises(Fail, match=problem):
        checks.model_builder(builder, "fashion_dense", BUILDER_SETTINGS)


def test_model_builder_names_swapped_arguments():
    with pytest.raises(Fail, match=r"build_model\(num_units=16, dropout=0.1\) raised .*Dropout\(dropout\)"):
        checks.model_builder(fashion_builder(swap=True), "fashion_dense", BUILDER_SETTINGS)


def test_model_builder_wants_the_argument_names_and_a_returned_model():
    with pytest.raises(Fail, match="name the parameters dropout, num_units"):
        checks.model_builder(lambda units, rate: None, "fashion_dense", BUILDER_SETTINGS)
    with pytest.raises(Fail, match="returned None"):
        checks.model_builder(lambda num_units, dropout: None, "fashion_dense", BUILDER_SETTINGS)


GRID = {"num-units": [16, 32], "dropout": [0.1, 0.2], "optimizer": ["sgd", "adam"]}


def write_trial(run_dir, point, session=None):
    """One real trial, as lab 06's loop runs it but on 64 random images: TensorBoard's logs and an
    HParams session (of ``session``'s values where given: a session that does not match)."""
    from tensorboard.plugins.hparams import api as hp

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28), "float32"), rng.integers(0, 10, 64)
    model = fashion_builder()(point["num_units"], point["dropout"])
    model.compile(optimizer=point["optimizer"], loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:32], y[:32]),
                        callbacks=[keras.callbacks.TensorBoard(str(run_dir)),
                                   hp.KerasCallback(str(run_dir), session or point)])
    return history.history["val_accuracy"][-1]


@pytest.fixture(scope="module")
def sweep_results(tmp_path_factory):
    from workbench import sweep

    root = tmp_path_factory.mktemp("sweep")
    results = []
    for number, point in enumerate(sweep.points({"grid": GRID})):
        point = sweep.hparams(point)
        run_dir = root / f"p{number}"
        results.append({**point, "seed": 0, "accuracy": write_trial(run_dir, point), "run": run_dir})
    return results


def test_hparams_sweep_passes_numbers_that_come_from_the_trials_logs(sweep_results, capsys):
    assert checks.hparams_sweep(sweep_results, GRID, seeds=(0,), floor=0.0)
    assert "8 trials (8 points x 1 seeds)" in capsys.readouterr().out


def test_hparams_sweep_catches_made_up_numbers(sweep_results):
    values = np.random.default_rng(1).uniform(0.5, 0.9, 8)
    made_up = [{**result, "accuracy": value} for result, value in zip(sweep_results, values, strict=True)]
    with pytest.raises(Fail, match="is not what that trial logged for its last epoch"):
        checks.hparams_sweep(made_up, GRID, seeds=(0,), floor=0.0)


def test_hparams_sweep_catches_a_missing_and_a_repeated_point(sweep_results):
    with pytest.raises(Fail, match=r"1 trial\(s\) never ran"):
        checks.hparams_sweep(sweep_results[:-1], GRID, seeds=(0,), floor=0.0)
    with pytest.raises(Fail, match="ran 2 times"):
        checks.hparams_sweep([*sweep_results[:-1], sweep_results[0]], GRID, seeds=(0,), floor=0.0)
    with pytest.raises(Fail, match=r"8 trial\(s\) never ran, e.g. .*'seed': 1"):
        checks.hparams_sweep(sweep_results, GRID, seeds=(0, 1), floor=0.0)


def test_hparams_sweep_catches_a_session_that_records_other_values(sweep_results, tmp_path):
    point = {k: v for k, v in sweep_results[0].items() if k in ("num_units", "dropout", "optimizer")}
    wrong = tmp_path / "wrong"
    accuracy = write_trial(wrong, point, session={**point, "dropout": 0.2})
    results = [{**sweep_results[0], "accuracy": accuracy, "run": wrong}, *sweep_results[1:]]
    with pytest.raises(Fail, match="the HParams session in .* records .*'dropout': 0.2"):
        checks.hparams_sweep(results, GRID, seeds=(0,), floor=0.0)


def test_hparams_sweep_catches_accuracy_at_chance(sweep_results):
    # 64 random images: the trials' logged accuracies are at chance (about 0.1).
    with pytest.raises(Fail, match="is below 0.3, which every point reaches after one epoch"):
        checks.hparams_sweep(sweep_results, GRID, seeds=(0,), floor=0.3)


def test_seed_summary_gives_mean_and_range_beside_the_lecture():
    from workbench import sweep

    results = [{"num_units": 16, "optimizer": "adam", "seed": s, "accuracy": a, "run": "x"}
               for s, a in enumerate((0.80, 0.82, 0.84))]
    results += [{"num_units": 32, "optimizer": "adam", "seed": 0, "accuracy": 0.9, "run": "y"}]
    rows = sweep.seed_summary(results, [{"num_units": 16, "optimizer": "adam", "accuracy": 0.83}])
    assert rows[0]["num_units"] == 32 and rows[0]["lecture"] is None and rows[0]["seeds"] == 1
    assert rows[1] == pytest.approx({"num_units": 16, "optimizer": "adam", "lecture": 0.83, "mean": 0.82,
                                     "min": 0.80, "max": 0.84, "seeds": 3})
