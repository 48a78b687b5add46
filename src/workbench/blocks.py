"""Building blocks of the colour-image lab (13): augmentation, residual and squeeze-and-excitation.

Each is a function from a Keras tensor to a Keras tensor (the functional API), so the notebook can
show one idea per cell and the model builders in ``workbench.models`` compose them.

* ``augmentation``: Keras preprocessing layers (lecture 002, "Data Augmentation": flipping,
  rotation, scaling, contrast). They are layers of the model, so they run where the model runs and
  only while training: ``model(x, training=False)`` leaves the input untouched (tested).
* ``residual_block``: lecture 003's ``add([x, y])`` listing grown into He et al.'s basic block.
  As printed, ``Conv2D(3, (3, 3))`` without ``padding="same"`` turns 256x256 into 254x254 and the
  ``add`` fails; a block keeps the size (``padding="same"``) and, where the width or the stride
  changes, passes ``x`` through a 1x1 convolution so the shapes agree.
* ``squeeze_excite``: lecture 002's equations (Hu et al. 2018): squeeze each channel to its mean
  z_c, excite s = sigma(W2 delta(W1 z)), rescale x_c = s_c u_c.
"""

from __future__ import annotations


def augmentation(flip: str = "horizontal", rotation: float = 0.1, zoom: float = 0.1,
                 contrast: float = 0.2, seed: int | None = None):
    """Random flip, rotation (fraction of a full turn), zoom and contrast; identity at inference."""
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip(flip, seed=seed),
        keras.layers.RandomRotation(rotation, seed=seed),
        keras.layers.RandomZoom(zoom, seed=seed),
        keras.layers.RandomContrast(contrast, value_range=(0, 1), seed=seed),  # pixels in [0, 1]
    ], name="augmentation")


def squeeze_excite(u, ratio: int = 8, name: str | None = None):
    """x~_c = s_c * u_c with s = sigmoid(W2 relu(W1 z)) and z_c the mean of channel c.

    Hu et al. use ratio 16 on ImageNet networks with hundreds of channels; our layers have 16-64,
    where 16 would leave one to four units in the bottleneck, hence 8 (at least 4 units).
    """
    import keras

    channels = u.shape[-1]
    z = keras.layers.GlobalAveragePooling2D(name=name and f"{name}_squeeze")(u)  # z_c
    s = keras.layers.Dense(max(channels // ratio, 4), activation="relu", name=name and f"{name}_w1")(z)
    s = keras.layers.Dense(channels, activation="sigmoid", name=name and f"{name}_w2")(s)
    s = keras.layers.Reshape((1, 1, channels))(s)
    return keras.layers.Multiply(name=name and f"{name}_scale")([u, s])  # broadcast over H and W


# Batch norm's moving averages with Keras' default momentum (0.99) need a few hundred steps to
# forget their initial values; a workshop run on a subset has ~60 steps per epoch, and the test
# accuracy of a ResNet stays at chance meanwhile (lab 04 shows the same lag). 0.9 follows in tens.
BN_MOMENTUM = 0.9


def residual_block(x, filters: int, stride: int = 1, se: bool = False, name: str | None = None):
    """relu(shortcut(x) + F(x)) with F = conv-BN-relu-conv-BN (+ squeeze-and-excitation)."""
    import keras

    def part(suffix):
        return name and f"{name}_{suffix}"

    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=part("conv1"))(x)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=part("bn1"))(y)
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=part("conv2"))(y)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=part("bn2"))(y)
    if se:
        y = squeeze_excite(y, name=part("se"))
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:  # the shapes differ: project x to match y
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=part("project"))(x)
        shortcut = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=part("project_bn"))(shortcut)
    z = keras.layers.add([shortcut, y])  # lecture 003's listing
    return keras.layers.Activation("relu")(z)
