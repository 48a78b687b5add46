"""Data parallelism by name: one object per strategy (default, mirrored, multiworker, horovod).

    strategy = strategies.get("mirrored", cpu_replicas=2)
    with strategy.scope():
        model = ...; task.compile(model, strategy.prepare_optimizer(optimizer))
    strategy.fit(model, task, train, validation, epochs=..., batch_size=..., callbacks=...)

``base`` says what every strategy knows; each module holds one strategy and the Keras 3
work-arounds it needs (``multiworker``: a custom loop around the model's own ``train_step``;
``horovod``: gradient averaging inside the optimizer).
"""

from __future__ import annotations

from workbench.distribute import DistributionError
from workbench.strategies.base import Mirrored, OneDevice, Strategy, split_cpu
from workbench.strategies.horovod import Horovod, averaging_optimizer, horovod_callbacks, import_horovod
from workbench.strategies.multiworker import MultiWorker

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (OneDevice, Mirrored, MultiWorker, Horovod)}


def get(name: str = "default", *, require_gpu: bool = False, cpu_replicas: int = 0) -> Strategy:
    """Set up the strategy ``name``; ``require_gpu`` refuses to run on a node without GPUs."""
    if name not in STRATEGIES:
        raise DistributionError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    import tensorflow as tf

    grow_gpu_memory(tf)
    if require_gpu and not tf.config.list_physical_devices("GPU"):
        raise DistributionError(
            "a GPU was requested but TensorFlow sees none on this node. Check the job asked for "
            "one (slurm/site.sh: WORKBENCH_GPU_FLAG), that CUDA is loaded (`workbench doctor`), "
            "or drop --require-gpu to run on CPU.")
    return STRATEGIES[name].setup(cpu_replicas=cpu_replicas)


def grow_gpu_memory(tf) -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start-up.

    A GPU node is often shared: a participant's notebook, a TensorBoard and a job, or two jobs
    with a GPU each where one sees both. By default the first TensorFlow process reserves nearly
    all of every GPU it sees and the next one fails with out-of-memory. Set before any GPU is
    initialized (strategies set devices up next).
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


__all__ = ["STRATEGIES", "DistributionError", "Horovod", "Mirrored", "MultiWorker", "OneDevice", "Strategy",
           "averaging_optimizer", "get", "horovod_callbacks", "import_horovod", "split_cpu"]
