"""``tf.data`` input pipelines from the NumPy arrays that ``data.load`` returns.

The order of steps matters and is the lesson of the profiling lab: shard first (each worker
reads only its part), cache the prepared samples (decode once), shuffle each epoch, batch, and
prefetch so the next batch is ready while the accelerator works on this one.
"""

from __future__ import annotations

from collections.abc import Callable


def as_dataset(
    x,
    y=None,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    cache: bool = True,
    prefetch: bool = True,
    map_fn: Callable | None = None,
    shard: tuple[int, int] | None = None,
    input_context=None,
    drop_remainder: bool = False,
):
    """Build a batched ``tf.data.Dataset`` of ``x`` (and ``y``).

    ``shard=(num_shards, index)`` or a ``tf.distribute.InputContext`` gives each worker of a
    distributed run its own disjoint part; with an input context ``batch_size`` is the *global*
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

    dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if shard is not None:
        num_shards, index = shard
        if not 0 <= index < num_shards:
            raise ValueError(f"shard index {index} is outside 0..{num_shards - 1}")
        dataset = dataset.shard(num_shards, index)
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        count = int(dataset.cardinality())
        dataset = dataset.shuffle(max(count, 1), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if prefetch:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset


def add_noise(images, stddev: float = 0.5, seed: int = 0, clip: tuple[float, float] = (0.0, 1.0)):
    """Gaussian noise for the denoising labs: a fixed seed gives the same noisy copy every time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    noisy = images + rng.normal(0.0, stddev, size=images.shape).astype(images.dtype)
    return np.clip(noisy, *clip)
