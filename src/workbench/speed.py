"""How fast a run trains without changing what it learns: numeric precision, steps per graph call.

Two settings, each measured in ``bench/`` before it became a default (``bench/RESULTS.md``):

* **steps per execution**: Keras runs this many training steps per call into the compiled graph
  instead of one, so Python, the callbacks and (on a GPU) the kernel launches are paid once per
  call. The steps, their order and so the weights are the same as one step at a time, as long as
  the number divides the epoch's steps (``steps_per_execution``); only callbacks that act on
  single batches see every N-th batch (the SIGUSR1 stop vote, which then stops all ranks at the
  same multiple of N; the profiler, so ``--profile-steps`` runs one step per call). On by default
  for one device and Horovod.
* **precision**: ``mixed_bfloat16`` computes in bfloat16 and keeps the weights in float32; the last
  layer stays in float32 (``float32_outputs``) so that the softmax and the loss see full-precision
  probabilities. ``auto`` picks bfloat16 where the hardware computes it natively (GPUs of compute
  capability 8.0 and later, CPUs with AMX or AVX512-BF16), ``mixed_float16`` on older GPUs (Keras
  then scales the loss), float32 elsewhere. It changes the numbers a little, so the lectures'
  recipes keep float32 and the ``--fast`` recipes use ``auto``.
* **XLA** (``--jit-compile``): ``auto`` is Keras' own rule, XLA on GPUs and not on CPUs, where it
  made lab 02's epoch 1.6x slower on the 2-core test machine (``../shared/FACTS.md``).
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import OptionError

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}  # --jit-compile -> compile(jit_compile=)
STEPS_PER_EXECUTION = 50  # bench/knobs.py: 0.69x the epoch time of 1 at batch 32, same weights
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_computes_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has bfloat16 arithmetic (Intel AMX or AVX512-BF16; oneDNN uses either)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    lines = [line for line in text.splitlines() if line.startswith("flags")]
    flags = lines[0].split(":", 1)[1].split() if lines else []
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability:
            found.append(tuple(capability))
    return found


def resolve_precision(name: str, gpus: list[tuple[int, int]] | None = None,
                      cpu_bf16: bool | None = None) -> str:
    """The Keras dtype policy ``--precision NAME`` means on this machine."""
    if name not in PRECISIONS:
        raise OptionError(f"--precision {name!r}: choose one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    gpus = gpu_compute_capabilities() if gpus is None else gpus
    if gpus:
        return "mixed_bfloat16" if min(gpus) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16" if (cpu_computes_bfloat16() if cpu_bf16 is None else cpu_bf16) else "float32"


def apply_precision(name: str) -> str:
    """Set Keras' global dtype policy for the models built next; return the policy's name."""
    import keras

    policy = resolve_precision(name)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def float32_outputs(model):
    """Make the model's last layer compute in float32 under a mixed policy, and return the model.

    A softmax in bfloat16 has about three significant digits: the cross-entropy of confident
    predictions then rounds, and measured accuracy dropped (0.9813 against 0.9844 after 3
    epochs). The last layer's weights are float32 already; only its computation changes.
    """
    import keras

    if model.dtype_policy.name == "float32":
        return model
    last = model.layers[-1]
    while isinstance(last, keras.Model) and last.layers:  # a model ending in a sub-model
        last = last.layers[-1]
    last.dtype_policy = "float32"
    return model


def steps_per_execution(requested: int | None, *, strategy: str, profile_steps: str | None,
                        steps_per_epoch: int) -> int:
    """Steps per graph call for this run: ``requested``, or the default where it applies.

    It must divide the epoch's steps. Keras runs a call's steps until the input ends, not until
    the epoch does, and the labs' input is every epoch's batches in a row: a call straddling an
    epoch's end would train on the next epoch's first batches in this epoch, so a run resumed at
    an epoch boundary would no longer end with the weights of one never stopped (measured: the
    Horovod stop-and-resume test then differed by up to 0.15). The default is the largest divisor
    of the epoch's steps up to ``STEPS_PER_EXECUTION``.

    One step per call where more do not work: the multi-worker loop is ours (its stop vote rides in
    the step), Keras' mirrored multi-step loop fails on logical CPU devices ("You must feed a value
    for placeholder tensor ... while/cond/Placeholder", Keras 3.15), and profiling wants every step
    to be its own call.
    """
    if requested is not None and requested < 1:
        raise OptionError(f"--steps-per-execution {requested}: give 1 or more (1: one step per call)")
    if strategy == "multiworker":
        if requested not in (None, 1):
            raise OptionError(f"--steps-per-execution {requested}: the multiworker strategy runs one step "
                              "per call (its stop vote is part of the step); leave it out or use 1, or "
                              "use --strategy horovod")
        return 1
    if profile_steps:
        if requested not in (None, 1):
            raise OptionError(f"--steps-per-execution {requested} with --profile-steps: the profiler needs "
                              "one step per call; leave --steps-per-execution out")
        return 1
    if requested is None:
        if strategy == "mirrored":
            return 1
        return max(n for n in range(1, STEPS_PER_EXECUTION + 1) if steps_per_epoch % n == 0)
    if steps_per_epoch % requested:
        divisors = [n for n in range(1, min(steps_per_epoch, 200) + 1) if steps_per_epoch % n == 0]
        raise OptionError(f"--steps-per-execution {requested} does not divide the epoch's {steps_per_epoch} "
                          "steps: a call would run into the next epoch's batches. Use one of "
                          f"{', '.join(map(str, divisors))}, or leave it out")
    return requested


def compile_settings(options: dict, strategy: str, steps_per_epoch: int) -> dict:
    """``model.compile``'s speed arguments for a lab run with ``options`` under ``strategy``.

    Under Horovod ``auto`` means no XLA: Horovod's all-reduce is a TensorFlow op that XLA cannot
    compile unless Horovod was built with its XLA ops, and Keras' rule would turn XLA on on GPUs.
    """
    jit = JIT_COMPILE[options["jit_compile"]]
    if strategy == "horovod" and jit == "auto":
        jit = False
    return {"steps_per_execution": steps_per_execution(options["steps_per_execution"], strategy=strategy,
                                                       profile_steps=options["profile_steps"],
                                                       steps_per_epoch=steps_per_epoch),
            "jit_compile": jit}
