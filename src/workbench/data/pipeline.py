"""``tf.data`` input for training, from the NumPy arrays that ``data.load`` returns.

One function, ``epoch_batches``, feeds every strategy (Keras ``fit``, the multi-worker loop and
Horovod ranks), so the order of steps is written once and is the lesson of the profiling lab:
shard first (each worker reads only its part), shuffle each epoch, turn samples into the
(input, target) pairs the task trains on, batch, and prefetch so the next batch is ready while
the accelerator works on this one.
"""

from __future__ import annotations

from collections.abc import Callable

EPOCH_SEED_STRIDE = 100_003  # epoch e of a run with seed s shuffles with s * STRIDE + e


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * EPOCH_SEED_STRIDE + epoch


def epoch_batches(
    x,
    y=None,
    *,
    batch_size: int,
    seed: int = 0,
    epochs: range = range(1),
    pair: Callable | None = None,
    mix: Callable | None = None,
    shard: tuple[int, int] | None = None,
    input_context=None,
    drop_remainder: bool = False,
):
    """Batches for the epochs in ``epochs``, each shuffled by a seed derived from its number.

    Epoch e sees the same order whether the run started at 0 or resumed at e after a requeue,
    which is what lets a resumed job end with the weights of an uninterrupted one.

    ``pair(sample, seed)`` turns one sample (``x[i]``, or ``(x[i], y[i])``) into what the model
    trains on, e.g. (noisy image, clean image); its ``seed`` (two integers) depends only on the
    epoch and the sample's index in ``x``, so the noise a sample gets is the same on one process
    and on many, before and after a requeue.

    ``mix(batch, seed)`` transforms a whole batch after ``pair`` (mixup); its seed depends on the
    epoch, the batch's number and the shard, so no two batches of a run mix alike.

    ``shard=(num_shards, index)`` or a ``tf.distribute.InputContext`` gives each worker its own
    disjoint part, every part the same length (a rank with one step more would wait forever in
    an all-reduce the others never join); with an input context ``batch_size`` is the *global*
    batch and each worker gets its per-replica share.
    """
    import tensorflow as tf

    if shard is not None and input_context is not None:
        raise ValueError("pass either shard=(num_shards, index) or input_context, not both")
    if input_context is not None:
        shard = (input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    samples = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).enumerate()
    count = len(x)
    num_shards, shard_index = 1, 0
    if shard is not None:
        num_shards, shard_index = shard
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard index {shard_index} is outside 0..{num_shards - 1}")
        count = len(x) // num_shards
        samples = samples.shard(num_shards, shard_index).take(count)

    batches = None
    for epoch in epochs:  # a Python loop: shuffle wants a Python-int seed
        this_seed = epoch_seed(seed, epoch)
        part = samples.shuffle(max(count, 1), seed=this_seed, reshuffle_each_iteration=False)
        if pair is None:
            part = part.map(lambda _index, sample: sample)
        else:
            part = part.map(
                lambda index, sample, s=this_seed: pair(sample, tf.stack([tf.constant(s, tf.int64), index])),
                num_parallel_calls=tf.data.AUTOTUNE)
        part = part.batch(batch_size, drop_remainder=drop_remainder)
        if mix is not None:  # negative second seeds: never one of pair's (epoch, sample index) seeds
            part = part.enumerate().map(
                lambda number, batch, s=this_seed: mix(batch, tf.stack([
                    tf.constant(s, tf.int64), -1 - (number * num_shards + shard_index)])),
                num_parallel_calls=tf.data.AUTOTUNE)
        batches = part if batches is None else batches.concatenate(part)
    if batches is None:  # nothing left to train: a finished run started again
        batches = samples.map(lambda _index, sample: sample).batch(batch_size).take(0)
    return batches.prefetch(tf.data.AUTOTUNE)


def gaussian_noise(images, noise_factor: float, seed):
    """``images + noise_factor * N(0, 1)``, clipped to [0, 1]: the denoising lab's corruption.

    Stateless, so the same ``seed`` gives the same noise on every rank and after a requeue.
    """
    import tensorflow as tf

    noise = tf.random.stateless_normal(tf.shape(images), seed=seed, dtype=images.dtype)
    return tf.clip_by_value(images + noise_factor * noise, 0.0, 1.0)


def add_noise(images, stddev: float = 0.5, seed: int = 0, clip: tuple[float, float] = (0.0, 1.0)):
    """NumPy Gaussian noise for a fixed noisy copy (the denoising lab's test set): same seed, same copy."""
    import numpy as np

    rng = np.random.default_rng(seed)
    noisy = images + rng.normal(0.0, stddev, size=images.shape).astype(images.dtype)
    return np.clip(noisy, *clip)


def mixup(x, y, alpha: float, seed):
    """Mixup (Zhang et al. 2018, lecture 002) of one batch: each sample i is mixed with a partner
    j from the same batch, x~ = lam x_i + (1 - lam) x_j and y~ = lam y_i + (1 - lam) y_j with the
    *same* lam ~ Beta(alpha, alpha) for the input and its (one-hot) label.

    Stateless: the same ``seed`` (two integers) gives the same partners and lambdas.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    count = tf.shape(x)[0]
    # Beta(a, a) as G1 / (G1 + G2) with G1, G2 ~ Gamma(a): TensorFlow has no stateless Beta.
    g1 = tf.random.stateless_gamma([count], seed=seeds[0], alpha=alpha)
    g2 = tf.random.stateless_gamma([count], seed=seeds[1], alpha=alpha)
    lam = g1 / (g1 + g2)
    partner = tf.random.experimental.stateless_shuffle(tf.range(count), seed=seeds[2])

    def blend(values):
        values = tf.cast(values, tf.float32)
        weight = tf.reshape(lam, [-1] + [1] * (len(values.shape) - 1))
        return weight * values + (1.0 - weight) * tf.gather(values, partner)

    return blend(x), blend(y)
