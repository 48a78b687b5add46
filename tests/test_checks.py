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
