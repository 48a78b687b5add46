"""Lab 13's building blocks: augmentation, residual and squeeze-and-excitation blocks, mixup."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from workbench import blocks, models  # noqa: E402
from workbench.data.pipeline import epoch_batches, mixup  # noqa: E402


def colour_batch(n=8, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 3)).astype("float32")


def test_augmentation_changes_inputs_in_training_and_leaves_them_alone_at_inference():
    layer = blocks.augmentation(seed=1)
    x = colour_batch()
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    augmented = np.asarray(layer(x, training=True))
    assert augmented.shape == x.shape and not np.allclose(augmented, x)
    again = np.asarray(layer(x, training=True))
    assert not np.allclose(again, augmented)  # a new draw every call, not a fixed transform


@pytest.mark.parametrize("name", ["cifar_cnn", "cifar_resnet"])
def test_a_model_with_augmentation_predicts_as_if_it_had_none(name):
    # The augmentation layers are the only difference, and they are the identity at inference.
    keras.utils.set_random_seed(0)
    plain = models.build(name)
    keras.utils.set_random_seed(0)
    augmented = models.build(name, augment=True)
    learning = [layer for layer in augmented.layers if layer.name != "augmentation" and layer.weights]
    for mine, theirs in zip(learning, [layer for layer in plain.layers if layer.weights], strict=True):
        mine.set_weights(theirs.get_weights())
    x = colour_batch(4)
    assert np.allclose(np.asarray(plain(x, training=False)), np.asarray(augmented(x, training=False)),
                       atol=1e-6)
    assert augmented.get_layer("augmentation").trainable_weights == []


def test_the_lecture_listing_needs_same_padding_to_add():
    x = keras.Input(shape=(256, 256, 3))
    with pytest.raises(ValueError):  # as printed: 254x254 cannot be added to 256x256
        keras.layers.add([x, keras.layers.Conv2D(3, (3, 3))(x)])
    z = keras.layers.add([x, keras.layers.Conv2D(3, (3, 3), padding="same")(x)])
    assert tuple(z.shape) == (None, 256, 256, 3)


def test_residual_block_keeps_or_projects_the_shape():
    x = keras.Input(shape=(32, 32, 16))
    assert tuple(blocks.residual_block(x, 16).shape) == (None, 32, 32, 16)
    assert tuple(blocks.residual_block(x, 32, stride=2).shape) == (None, 16, 16, 32)


def test_a_residual_block_with_a_zero_branch_passes_its_input_through_relu():
    # F(x) = 0 (last batch norm's scale set to 0): the block is relu(x), the identity shortcut.
    x = keras.Input(shape=(8, 8, 4))
    model = keras.Model(x, blocks.residual_block(x, 4, name="b"))
    bn2 = model.get_layer("b_bn2")
    gamma, beta, mean, var = bn2.get_weights()
    bn2.set_weights([np.zeros_like(gamma), np.zeros_like(beta), mean, var])
    values = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    assert np.allclose(np.asarray(model(values, training=False)), np.maximum(values, 0), atol=1e-6)


def test_squeeze_excite_is_the_lectures_equations():
    u_in = keras.Input(shape=(5, 5, 16))
    model = keras.Model(u_in, blocks.squeeze_excite(u_in, ratio=4, name="se"))
    u = np.random.default_rng(1).normal(size=(3, 5, 5, 16)).astype("float32")
    w1, b1 = model.get_layer("se_w1").get_weights()
    w2, b2 = model.get_layer("se_w2").get_weights()
    z = u.mean(axis=(1, 2))  # squeeze: z_c = 1/(HW) sum u_c(i, j)
    s = 1 / (1 + np.exp(-(np.maximum(z @ w1 + b1, 0) @ w2 + b2)))  # excite: sigma(W2 delta(W1 z))
    expected = u * s[:, None, None, :]  # scale: x_c = s_c u_c
    assert w1.shape == (16, 4)
    assert np.allclose(np.asarray(model(u)), expected, atol=1e-5)


def test_reference_parameter_counts():
    assert models.build("cifar_cnn").count_params() == 122_570  # the TensorFlow tutorial's summary
    # ResNet-20 (3 blocks per stage) is the size of Keras' ResNet20v1 example (0.27 M).
    assert 0.26e6 < models.build("cifar_resnet", blocks_per_stage=3).count_params() < 0.28e6
    assert models.build("cifar_resnet", num_classes=100).output_shape == (None, 100)


# --------------------------------------------------------------------------- mixup


def distinct_batch(n=10, seed=0):
    """n images, each its own class, so every mixed label says which two samples were mixed."""
    x = np.random.default_rng(seed).random((n, 4, 4, 3)).astype("float32")
    return x, np.eye(n, dtype="float32")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_mixes_inputs_and_labels_with_the_same_lambda(seed, alpha):
    x, y = distinct_batch()
    mixed_x, mixed_y = (np.asarray(t) for t in mixup(x, y, alpha=alpha, seed=[seed, 7]))
    assert np.allclose(mixed_y.sum(axis=1), 1.0, atol=1e-6)  # still a distribution
    for i in range(len(x)):
        weights = mixed_y[i]
        lam = weights[i]
        assert -1e-6 <= lam <= 1 + 1e-6
        others = [j for j in np.flatnonzero(weights > 1e-6) if j != i]
        assert len(others) <= 1  # one partner (or itself)
        partner = others[0] if others else i
        # The same lambda blends the inputs: a convex combination of x_i and its partner.
        assert np.allclose(mixed_x[i], lam * x[i] + (1 - lam) * x[partner], atol=1e-5)


def test_mixup_is_reproducible_and_its_lambda_follows_beta():
    x, y = distinct_batch(64)
    first = mixup(x, y, alpha=0.2, seed=[1, 2])
    again = mixup(x, y, alpha=0.2, seed=[1, 2])
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, again, strict=True))
    lams = np.concatenate([np.asarray(mixup(x, y, alpha=0.2, seed=[s, 0])[1]).max(axis=1) for s in range(20)])
    # Beta(0.2, 0.2) piles up near 0 and 1: the larger weight of each pair is mostly near 1.
    assert np.mean(lams > 0.9) > 0.4
    lams_uniform = np.concatenate([np.asarray(mixup(x, y, alpha=1.0, seed=[s, 0])[1]).max(axis=1)
                                   for s in range(20)])
    assert 0.65 < lams_uniform.mean() < 0.85  # Beta(1, 1) is uniform: E[max(l, 1 - l)] = 0.75


def test_the_pipeline_mixes_every_batch_differently():
    x, labels = distinct_batch(40)
    seen = []

    def mix(batch, seed):
        return mixup(*batch, alpha=1.0, seed=seed)

    for batch_x, batch_y in epoch_batches(x, labels, batch_size=10, seed=3, mix=mix, epochs=range(2)):
        assert batch_x.shape == (10, 4, 4, 3) and batch_y.shape == (10, 40)
        seen.append(np.asarray(batch_y).max(axis=1))
    assert len(seen) == 8
    assert len({tuple(np.round(s, 5)) for s in seen}) == 8
