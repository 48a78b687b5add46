"""Name -> builder registry for every lab architecture.

The notebooks show this same model code cell by cell (that is what participants come to learn);
the batch scripts in ``labs/`` build the models from here, and ``tests/test_models.py`` keeps the
two identical layer by layer. Listings follow lecture 003 (Urbanic, PSC) with its typos fixed:
``lr=`` is ``learning_rate=`` in Keras 3, the stray ``Platten`` line and the extra ``)`` are gone,
and ``input_shape=`` on the first layer becomes an explicit ``keras.Input``, as Keras 3 asks.

Keras is imported inside the builders so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MNIST_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    builder: Callable[..., object]
    input_shape: tuple[int, ...]
    source: str  # where in the lectures the listing comes from


MODELS: dict[str, ModelSpec] = {}


def register(name: str, title: str, input_shape: tuple[int, ...], source: str):
    """Decorator adding a builder to the registry under ``name``."""

    def add(builder: Callable[..., object]) -> Callable[..., object]:
        MODELS[name] = ModelSpec(name, title, builder, input_shape, source)
        return builder

    return add


@register("mnist_dense", "Our first model: 64 wide fully connected", (28, 28),
          "lecture 003, 'Our First Model 64 Wide FC' (TensorBoard graph view)")
def mnist_dense(input_shape=(28, 28), num_classes=10):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_dense")


@register("mnist_cnn", "Let's start small: the first CNN", MNIST_SHAPE,
          "lecture 003, 'Let's Start Small'")
def mnist_cnn(input_shape=MNIST_SHAPE, num_classes=10):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(10, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn")


@register("mnist_cnn_deeper", "Scaling up the CNN: two convolutions", MNIST_SHAPE,
          "lecture 003, 'Scaling Up The CNN'")
def mnist_cnn_deeper(input_shape=MNIST_SHAPE, num_classes=10):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn_deeper")


@register("mnist_cnn_dropout", "CNN with dropout", MNIST_SHAPE,
          "lecture 003, 'CNN With Dropout'")
def mnist_cnn_dropout(input_shape=MNIST_SHAPE, num_classes=10):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.Dropout(0.25),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn_dropout")


@register("mnist_cnn_batchnorm", "Trying batch normalization", MNIST_SHAPE,
          "lecture 003, 'Trying Batch Normalization'")
def mnist_cnn_batchnorm(input_shape=MNIST_SHAPE, num_classes=10):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.BatchNormalization(),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn_batchnorm")


@register("mnist_cnn_bn_before_activation", "Batch normalization before the activation",
          MNIST_SHAPE, "lecture 003, 'Batch Normalization' (peeling layers apart)")
def mnist_cnn_bn_before_activation(input_shape=MNIST_SHAPE, num_classes=10):
    """The batch-norm CNN with BN moved between each linear layer and its ReLU.

    The lecture shows the pattern on one layer (``Conv2D(use_bias=False)``, ``BatchNormalization``,
    ``Activation("relu")``); here it is applied to every hidden layer of the batch-norm listing.
    The bias is dropped because BN's own shift (beta) makes it redundant.
    """
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Conv2D(64, (3, 3), use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn_bn_before_activation")


@register("fashion_dense", "The HParams tutorial's model: one hidden layer and dropout", (28, 28),
          "lecture 003, 'TensorBoard Add Ons' (HParams table; TensorBoard's HParams tutorial)")
def fashion_dense(input_shape=(28, 28), num_classes=10, num_units=16, dropout=0.1):
    """The model behind the lecture's 8-run HParams table: width and dropout rate are the knobs."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(num_units, activation="relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="fashion_dense")


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; the registry has: {', '.join(sorted(MODELS))}"
        ) from None


def build(name: str, **kwargs):
    """Build a fresh, uncompiled model by registry name."""
    spec = get(name)
    kwargs.setdefault("input_shape", spec.input_shape)
    return spec.builder(**kwargs)
