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

from workbench.errors import WorkbenchError

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


@register("mnist_logistic", "Softmax regression: logistic regression with ten classes", (28, 28),
          "lecture 001, 'Logistical Regression as a Binary Classifier' (ten classes: softmax)")
def mnist_logistic(input_shape=(28, 28), num_classes=10):
    """784 pixels -> 10 probabilities, no hidden layer: 7,850 parameters, a linear classifier."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_logistic")


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


@register("mnist_cnn_deeper_dropout", "The scaled-up CNN with the dropout layers and no pooling", MNIST_SHAPE,
          "lab 03: lecture 003's 'CNN With Dropout' without its MaxPooling2D")
def mnist_cnn_deeper_dropout(input_shape=MNIST_SHAPE, num_classes=10):
    """The lecture's dropout listing also adds pooling (4.7M -> 1.2M parameters), so its gain
    mixes two changes; this variant keeps the scaled-up CNN's 4.7M parameters and adds only the
    two ``Dropout`` layers, so lab 03 can tell dropout's share from pooling's."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.Dropout(0.25),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn_deeper_dropout")


@register("mnist_cnn_pooled", "The scaled-up CNN with pooling: the batch-norm CNN without batch norm",
          MNIST_SHAPE, "labs 03-04: lecture 003's 'Trying Batch Normalization' without its BN layers")
def mnist_cnn_pooled(input_shape=MNIST_SHAPE, num_classes=10):
    """The baseline two lectures' listings imply and neither shows: the batch-norm CNN with its
    ``BatchNormalization`` layers removed, which is also the dropout CNN with its ``Dropout``
    layers removed. Lab 04 trains it beside batch norm, lab 03 beside dropout."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="mnist_cnn_pooled")


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


# --------------------------------------------------------------------------- autoencoders
# Lecture 004 (Xu, TACC), "Autoencoder": the layer tables and parameter counts below are the
# lecture's, exactly. Pixels are in [0, 1], so the decoders end in a sigmoid and train with
# binary cross-entropy (keras-io's and the Keras blog's choice; lecture 002 writes the loss as
# the squared error ||x - d(e(x))||^2, which the labs also report).

FLAT_MNIST = (784,)


@register("ae_dense", "Single dense layer autoencoder: 784 -> 32 -> 784", FLAT_MNIST,
          "lecture 004, 'Single Dense Layer Example' (50,992 parameters, ~24.5x compression)")
def ae_dense(input_shape=FLAT_MNIST, code_size=32):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Dense(code_size, activation="relu"),  # the encoder: 784 numbers -> 32
        keras.layers.Dense(784, activation="sigmoid"),  # the decoder: 32 -> 784 pixels in [0, 1]
    ], name="ae_dense")


@register("ae_sparse", "Sparse autoencoder: the dense one with an L1 activity regularizer", FLAT_MNIST,
          "lecture 004, 'Sparsity constraint can be introduced through activity regularizer'")
def ae_sparse(input_shape=FLAT_MNIST, code_size=32, l1=1e-4):
    """The L1 penalty on the code (Keras blog: ``regularizers.l1(10e-5)``) pushes most code
    units to zero for any one image; Keras adds it to the loss with ``add_loss``."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Dense(code_size, activation="relu", activity_regularizer=keras.regularizers.L1(l1)),
        keras.layers.Dense(784, activation="sigmoid"),
    ], name="ae_sparse")


@register("ae_deep", "Deep autoencoder: 784-128-64-32-64-128-784", FLAT_MNIST,
          "lecture 004, 'Deep Autoencoders' (222,384 parameters)")
def ae_deep(input_shape=FLAT_MNIST):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),  # the code
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(784, activation="sigmoid"),
    ], name="ae_deep")


@register("ae_conv", "Convolutional autoencoder: 28x28x1 -> 4x4x8 -> 28x28x1", MNIST_SHAPE,
          "lecture 004, 'AE with Convolutional Layers' (4,385 parameters)")
def ae_conv(input_shape=MNIST_SHAPE):
    """The sixth convolution is 'valid' (no padding): 16x16 -> 14x14, so that the last
    up-sampling lands on 28x28 again; every other convolution keeps its size ('same')."""
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D((2, 2), padding="same"),
        keras.layers.Conv2D(8, (3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D((2, 2), padding="same"),
        keras.layers.Conv2D(8, (3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D((2, 2), padding="same"),  # the code: 4x4x8 = 128 numbers
        keras.layers.Conv2D(8, (3, 3), activation="relu", padding="same"),
        keras.layers.UpSampling2D((2, 2)),
        keras.layers.Conv2D(8, (3, 3), activation="relu", padding="same"),
        keras.layers.UpSampling2D((2, 2)),
        keras.layers.Conv2D(16, (3, 3), activation="relu"),  # valid: 16x16 -> 14x14
        keras.layers.UpSampling2D((2, 2)),
        keras.layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same"),
    ], name="ae_conv")


@register("ae_denoise", "Denoising autoencoder: 28x28x1 -> 7x7x32 -> 28x28x1", MNIST_SHAPE,
          "lecture 004, 'AE for Denoising' (28,353 parameters)")
def ae_denoise(input_shape=MNIST_SHAPE):
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D((2, 2), padding="same"),
        keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D((2, 2), padding="same"),  # the code: 7x7x32
        keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
        keras.layers.UpSampling2D((2, 2)),
        keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
        keras.layers.UpSampling2D((2, 2)),
        keras.layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same"),
    ], name="ae_denoise")


@register("mnist_vae", "Variational autoencoder with a 2-D latent space", MNIST_SHAPE,
          "lecture 000, 'Variational Autoencoder' and 'MNIST Latent Space Sampling' (keras-io's VAE)")
def mnist_vae(input_shape=MNIST_SHAPE, latent_dim=2):
    from workbench import vae

    model = vae.VAE(vae.encoder(input_shape, latent_dim), vae.decoder(latent_dim), name="mnist_vae")
    model.build((None, *input_shape))  # a subclassed model knows its weights once built
    return model


# --------------------------------------------------------------------------- text (lab 11)


@register("imdb_bilstm", "Bidirectional LSTM sentiment classifier", (None,),
          "lecture 003, 'Bi-directional LSTMs' (TensorFlow's text classification with an RNN tutorial)")
def imdb_bilstm(input_shape=(None,), vocab_size=20000, embedding_dim=64):
    """The lecture's listing on token ids from ``workbench.text.vectorizer``; one logit out.

    ``encoder.vocab_size`` in the listing (an old ``tfds`` encoder) is the vectorizer's vocabulary
    size here. ``mask_zero=True`` makes the LSTMs skip the padding (id 0) at the end of short
    reviews, so a review reads the same however long its batch's longest one is.
    """
    import keras

    return keras.Sequential([
        keras.Input(shape=input_shape, dtype="int64"),
        keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(32)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1),  # a logit: the loss is computed from_logits=True
    ], name="imdb_bilstm")


# --------------------------------------------------------------------------- colour images (lab 13)
# Both CIFAR builders take the lab's switches: --augment puts workbench.blocks.augmentation in
# front (active only in training), --se adds a squeeze-and-excitation block after each stage.

CIFAR_SHAPE = (32, 32, 3)


@register("cifar_cnn", "The TensorFlow CNN tutorial's network (conv 32-64-64, dense 64)", CIFAR_SHAPE,
          "lecture 003, exercise 'CIFAR10'; the TensorFlow 'Convolutional Neural Network (CNN)' tutorial")
def cifar_cnn(input_shape=CIFAR_SHAPE, num_classes=10, augment=False, se=False):
    """122,570 parameters with 10 classes, as in the tutorial (which ends in logits; we in softmax)."""
    import keras

    from workbench import blocks

    inputs = keras.Input(shape=input_shape)
    x = blocks.augmentation()(inputs) if augment else inputs
    for stage, filters in enumerate((32, 64, 64)):
        x = keras.layers.Conv2D(filters, (3, 3), activation="relu")(x)
        if se:
            x = blocks.squeeze_excite(x, name=f"se{stage + 1}")
        if stage < 2:
            x = keras.layers.MaxPooling2D((2, 2))(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cifar_cnn")


@register("cifar_resnet", "A small ResNet: 3 stages of residual blocks (16, 32, 64 filters)", CIFAR_SHAPE,
          "lecture 003, 'Residual Neural Nets'; lecture 002, ResNet (He et al. 2015); Keras' ResNet20v1")
def cifar_resnet(input_shape=CIFAR_SHAPE, num_classes=10, augment=False, se=False, blocks_per_stage=1):
    """ResNet-(6n+2) for 32x32 images: n = 1 is ResNet-8 (a CPU-sized one, the default), n = 3 the
    ResNet-20 of Keras' CIFAR-10 example (without its learning-rate schedule and 200 epochs)."""
    import keras

    from workbench import blocks

    inputs = keras.Input(shape=input_shape)
    x = blocks.augmentation()(inputs) if augment else inputs
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = keras.layers.BatchNormalization(momentum=blocks.BN_MOMENTUM, name="stem_bn")(x)
    x = keras.layers.Activation("relu")(x)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1  # halve the size as the width doubles
            x = blocks.residual_block(x, filters, stride, se=se, name=f"stage{stage + 1}_block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"cifar_resnet{6 * blocks_per_stage + 2}")


class UnknownModelError(WorkbenchError, KeyError):
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
