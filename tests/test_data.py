"""Data registry, verification and loading: real files, and every kind of damage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from workbench import data
from workbench.data import store


def synthetic_mnist(path, n_train=60000, n_test=10000, **overrides):
    """An MNIST-shaped file (content checks only look at shapes, dtypes and labels)."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------- real data


def test_verify_reports_every_real_file(described_data):
    reports = {r.name: r for r in data.verify(described_data)}
    assert {name: r.status for name, r in reports.items()} == {
        "mnist": "OK", "fashion_mnist": "OK", "cifar10": "OK", "cifar100": "missing", "imdb": "OK"}
    assert "subset: 10000 train / 2000 test" in reports["cifar10"].detail
    assert "sha256 matches" in reports["mnist"].detail
    assert "workbench data fetch cifar100" in reports["cifar100"].detail


@pytest.mark.parametrize("name, image_shape, label_shape, counts", [
    ("mnist", (28, 28), (), (60000, 10000)),
    ("fashion_mnist", (28, 28), (), (60000, 10000)),
    ("cifar10", (32, 32, 3), (1,), (10000, 2000)),
])
def test_load_real_images_in_keras_layout(real_data, name, image_shape, label_shape, counts):
    (x_train, y_train), (x_test, y_test) = data.load(name, data_dir=real_data, quick=False)
    assert x_train.shape == (counts[0],) + image_shape and x_train.dtype == np.uint8
    assert y_train.shape == (counts[0],) + label_shape
    assert x_test.shape == (counts[1],) + image_shape and y_test.shape == (counts[1],) + label_shape
    assert set(np.unique(y_train)) == set(range(10))


def test_load_real_imdb_as_text(real_data):
    (x_train, y_train), (x_test, y_test) = data.load("imdb", data_dir=real_data, quick=False)
    assert len(x_train) == len(x_test) == 25000
    assert isinstance(x_train[0], str) and len(x_train[0]) > 20
    assert y_train.mean() == pytest.approx(0.5) and set(np.unique(y_test)) == {0, 1}


def test_quick_mode_is_a_deterministic_subset(real_data, monkeypatch):
    monkeypatch.setenv("WORKBENCH_QUICK", "1")
    (a, ya), (b, yb) = data.load("mnist", data_dir=real_data)
    (a2, _), _ = data.load("mnist", data_dir=real_data)
    assert len(a) == 5000 and len(b) == 1000
    np.testing.assert_array_equal(a, a2)
    assert len(np.unique(ya)) == 10  # a random subset covers every class
    (full, _), _ = data.load("mnist", data_dir=real_data, quick=False)
    assert len(full) == 60000


def test_staged_directory_is_found_through_the_environment(real_data, quiet_env, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(real_data))
    located = data.locate("fashion_mnist")
    assert located.origin == "staged" and located.path == real_data / "fashion_mnist.npz"


# --------------------------------------------------------------------------- damage


def test_missing_file_says_how_to_stage_it(quiet_env):
    with pytest.raises(data.DatasetMissingError) as error:
        data.load("mnist", data_dir=quiet_env)
    message = str(error.value)
    assert "workbench data fetch mnist" in message and "WORKBENCH_DATA" in message
    assert str(quiet_env / "mnist.npz") in message


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(data.UnknownDatasetError, match="mnist, fashion_mnist|cifar10.*imdb"):
        data.get("minst")


def test_truncated_file_is_corrupt(quiet_env):
    path = synthetic_mnist(quiet_env / "mnist.npz", 100, 20, )
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(data.DatasetCorruptError, match="cannot be read as a NumPy .npz archive"):
        data.load("mnist", data_dir=quiet_env)


def test_flipped_byte_fails_the_sha256sums_check(real_data, quiet_env):
    shutil.copy(real_data / "mnist.npz", quiet_env / "mnist.npz")
    shutil.copy(real_data / "SHA256SUMS", quiet_env / "SHA256SUMS")
    raw = bytearray((quiet_env / "mnist.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (quiet_env / "mnist.npz").write_bytes(bytes(raw))
    with pytest.raises(data.DatasetCorruptError, match="SHA-256 differs"):
        data.load("mnist", data_dir=quiet_env)
    (quiet_env / "SHA256SUMS").unlink()  # without the sums, the zip CRC still catches it
    with pytest.raises(data.DatasetCorruptError, match="cannot be read"):
        data.load("mnist", data_dir=quiet_env)


@pytest.mark.parametrize("overrides, problem", [
    ({"x_train": np.zeros((60000, 32, 32), np.uint8)}, "x_train has shape (60000, 32, 32)"),
    ({"x_test": np.ones((10000, 28, 28), np.float32)}, "x_test has dtype float32"),
    ({"y_train": np.full(60000, 12, np.uint8)}, "labels 12..12, expected 0..9"),
    ({"y_test": np.zeros(9999, np.uint8)}, "10000 images in x_test but 9999 labels"),
])
def test_wrong_content_is_named(quiet_env, overrides, problem):
    synthetic_mnist(quiet_env / "mnist.npz", **overrides)
    with pytest.raises(data.DatasetCorruptError) as error:
        data.load("mnist", data_dir=quiet_env)
    assert problem in str(error.value)
    assert "workbench data fetch mnist" in str(error.value)


def test_wrong_sample_count_is_named(quiet_env):
    synthetic_mnist(quiet_env / "mnist.npz", 500, 100)
    expected = "500 train / 100 test samples; expected full 60000/10000"
    with pytest.raises(data.DatasetCorruptError, match=expected):
        data.load("mnist", data_dir=quiet_env)


def test_pickled_arrays_are_refused(quiet_env):
    synthetic_mnist(quiet_env / "mnist.npz", y_train=np.array([object()] * 60000, dtype=object))
    with pytest.raises(data.DatasetCorruptError, match="cannot be read"):
        data.load("mnist", data_dir=quiet_env)


def test_verify_reports_corrupt_and_missing_without_raising(quiet_env):
    synthetic_mnist(quiet_env / "mnist.npz", 500, 100)
    reports = {r.name: r for r in data.verify(quiet_env, ["mnist", "imdb"])}
    assert reports["mnist"].status == "corrupt" and "500 train" in reports["mnist"].detail
    assert reports["imdb"].status == "missing"


def test_imdb_labels_must_agree_with_ratings(real_data, quiet_env):
    arrays = store.read_npz(data.get("imdb"), real_data / "imdb_reviews.npz")
    arrays["labels"] = 1 - arrays["labels"]
    np.savez(quiet_env / "imdb_reviews.npz", **arrays)
    with pytest.raises(data.DatasetCorruptError, match="labels disagree with ratings"):
        data.load("imdb", data_dir=quiet_env)


# --------------------------------------------------------------------------- tf.data


def test_epoch_batches_cover_every_sample_once_and_shard_disjointly():
    x = np.arange(10, dtype=np.float32)
    y = np.arange(10) % 2
    batches = list(data.epoch_batches(x, y, batch_size=4, seed=1))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate([b[0].numpy() for b in batches])) == list(range(10))
    parts = [np.concatenate([b.numpy() for b in data.epoch_batches(x, batch_size=3, shard=(2, i))])
             for i in (0, 1)]
    assert set(parts[0]).isdisjoint(parts[1]) and len(parts[0]) == len(parts[1]) == 5


def test_epoch_batches_order_depends_only_on_seed_and_epoch():
    """A run resumed at epoch 2 reads epoch 2 exactly as an uninterrupted run does."""
    x = np.arange(20, dtype=np.float32)
    straight = [b.numpy() for b in data.epoch_batches(x, batch_size=20, seed=3, epochs=range(3))]
    resumed = [b.numpy() for b in data.epoch_batches(x, batch_size=20, seed=3, epochs=range(2, 3))]
    np.testing.assert_array_equal(straight[2], resumed[0])
    assert not np.array_equal(straight[0], straight[1])  # and each epoch is shuffled anew


def test_pair_noise_depends_on_the_sample_and_epoch_not_on_the_shard():
    """The denoising lab's noise: one process and two ranks corrupt each image identically."""
    import tensorflow as tf

    x = np.tile(np.linspace(0.2, 0.8, 10, dtype=np.float32)[:, None], (1, 6))
    x[:, 0] = np.arange(10)  # an id column, left clean, to find each sample again

    def pair(sample, seed):
        noisy = data.gaussian_noise(sample[1:], 0.5, seed)
        return tf.concat([sample[:1], noisy], 0), sample

    def noisy_by_id(**shard):
        found = {}
        for inputs, _ in data.epoch_batches(x, batch_size=4, seed=0, epochs=range(1, 2), pair=pair, **shard):
            for row in inputs.numpy():
                found[int(row[0])] = row[1:]
        return found

    whole = noisy_by_id()
    halves = {**noisy_by_id(shard=(2, 0)), **noisy_by_id(shard=(2, 1))}
    assert sorted(whole) == sorted(halves) == list(range(10))
    for key in whole:
        np.testing.assert_array_equal(whole[key], halves[key])
        assert whole[key].min() >= 0 and whole[key].max() <= 1 and not np.allclose(whole[key], x[key, 1:])


def test_epoch_batches_reject_a_bad_shard():
    with pytest.raises(ValueError, match="shard index 2 is outside 0..1"):
        data.epoch_batches(np.zeros(4), batch_size=2, shard=(2, 2))


def test_add_noise_is_reproducible_and_clipped():
    images = np.full((2, 4, 4), 0.5, np.float32)
    noisy = data.add_noise(images, 0.5, seed=3)
    np.testing.assert_array_equal(noisy, data.add_noise(images, 0.5, seed=3))
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.allclose(noisy, images)


def test_train_samples_sets_the_training_subset_and_keeps_the_test_set(real_data):
    (x_quick, _), (t_quick, _) = data.load("imdb", quick=True, data_dir=real_data)
    (x_more, y_more), (t_more, _) = data.load("imdb", quick=True, data_dir=real_data, train_samples=3000)
    assert len(x_quick) == 2000 and len(x_more) == 3000 and len(y_more) == 3000
    assert list(t_more) == list(t_quick)  # quick mode's test reviews, untouched
    again, _ = data.load("imdb", quick=True, data_dir=real_data, train_samples=3000)
    assert list(again[0]) == list(x_more)  # deterministic: every rank, every run
    (x_all_test, _), (t_all, _) = data.load("mnist", quick=False, data_dir=real_data, train_samples=100)
    assert len(x_all_test) == 100 and len(t_all) == 10000
