"""The checks behind ``notebooks/check_your_setup.ipynb``: is this kernel ready for the labs?

A participant's first ten minutes decide the workshop, and they happen in a browser, not a
terminal. So every check here returns a :class:`Finding` that says, in plain words, what was
found and, when something is wrong, the one thing to do about it (which menu, which command, whom
to ask). The checks never raise for what they find: a notebook run from the top shows every
problem at once, and :func:`summary` alone stops with the list of fixes.

The notebook calls one check per cell; ``workbench doctor`` is the terminal's counterpart.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata

NOTEBOOK = "check_your_setup.ipynb"  # in notebooks/ only: it has no exercises, so no solution
# What the labs read (lab 01-10 MNIST, 11 IMDB, 12 Fashion-MNIST, 13 CIFAR-10); CIFAR-100 is an option.
LAB_DATASETS = ("mnist", "fashion_mnist", "imdb", "cifar10")
SANITY_ACCURACY = 0.85  # a small dense net on 5,000 MNIST images: measured about 0.90-0.93
RESTART = "then restart the kernel (Kernel → Restart Kernel…) and run this notebook again"


class SetupProblem(RuntimeError):
    """Raised by :func:`summary` when a check failed: the message lists every fix."""


@dataclass
class Finding:
    """One check's result, printed as a tick or a cross with the fix."""

    topic: str
    ok: bool
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        mark = "✔" if self.ok else "✘"
        text = f"{mark} {self.topic}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n  fix: {self.fix}"

    def _repr_pretty_(self, printer, cycle) -> None:  # how IPython shows a cell's last value
        printer.text(str(self))


def kernel(env: dict | None = None) -> Finding:
    """Which kernel runs this notebook, and is it the workbench's (with the staged data it carries)?"""
    from workbench import jupyter_kernel

    env = os.environ if env is None else env
    name = env.get(jupyter_kernel.MARKER)
    where = f"Python {platform.python_version()} at {sys.executable}"
    if name:
        return Finding("kernel", True, f"'{name}', the workbench's kernel ({where})")
    return Finding(
        "kernel", False,
        f"this is not the workbench's kernel ({where}); the workbench imports here, but the kernel "
        "does not carry the workshop's settings (staged data, quick mode)",
        f"choose Kernel → Change Kernel… → '{jupyter_kernel.DISPLAY_NAME}'. Not in the list? In a "
        f"terminal (File → New → Terminal): `workbench kernel install --user`, reload this page, "
        "then choose it.")


def versions() -> Finding:
    """The versions the labs were written for; TensorFlow and Keras must import."""
    found = {}
    for package in ("workbench", "keras", "tensorboard", "matplotlib"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    try:
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    except ImportError as error:
        return Finding("versions", False, f"TensorFlow does not import: {error}",
                       "this kernel's environment lacks the workshop's software: use the workbench's "
                       "kernel (Kernel → Change Kernel…), or ask your instructor.")
    missing = [name for name, version in found.items() if version is None]
    listed = ", ".join(f"{name} {version}" for name, version in found.items() if version)
    if missing:
        return Finding("versions", False, f"{listed}; missing: {', '.join(missing)}",
                       "the environment is incomplete: ask your instructor (sites: `./workshop setup`).")
    return Finding("versions", True, f"Python {platform.python_version()}, {listed}")


def devices() -> Finding:
    """CPUs and GPUs this kernel sees. No GPU is fine for quick mode, so this never fails."""
    import tensorflow as tf

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return Finding("devices", True, f"{len(gpus)} GPU(s) ({', '.join(g.name for g in gpus)}), "
                                        f"{usable} CPU cores")
    note = ("no GPU: fine for quick mode and the small labs; for full runs use a GPU node "
            "(the hub's GPU option, or `slurm/submit slurm/one_gpu.sbatch`)")
    return Finding("devices", True, f"{usable} CPU cores; {note}")


def data(env: dict | None = None, names: tuple[str, ...] = LAB_DATASETS) -> Finding:
    """The staged datasets are there and their content verifies (checksums and shapes)."""
    from workbench import settings
    from workbench.data import store

    ask = ("ask your instructor for the staged data directory, then in a terminal run "
           f"`workbench kernel install --user --data DIRECTORY` and {RESTART}")
    directory = settings.download_dir(env)  # the staged directory, else the download cache
    if settings.data_dir(env) is not None:
        if not directory.is_dir():
            return Finding("data", False, f"WORKBENCH_DATA names {directory}, which does not exist", ask)
    else:
        if not directory.is_dir():
            return Finding("data", False, "WORKBENCH_DATA is not set, so the labs do not know where the "
                                          "workshop's datasets are (compute nodes cannot download them)", ask)
    reports = store.verify(directory, list(names))
    bad = [r for r in reports if r.status != "OK"]
    if bad:
        detail = "; ".join(f"{r.name} {r.status} ({r.detail})" for r in bad)
        return Finding("data", False, f"in {directory}: {detail}",
                       f"tell your instructor which files are reported (`workbench data verify` "
                       f"shows the same); with internet, `workbench data fetch {bad[0].name}` gets one")
    return Finding("data", True, f"{', '.join(r.name for r in reports)} staged and verified in {directory}")


def training(samples: int = 5000, epochs: int = 2) -> Finding:
    """A few seconds of real training: a small dense network on MNIST must learn.

    This catches what the other checks cannot: a TensorFlow that imports but cannot run (a broken
    GPU driver, a CPU without the instructions the build needs), or memory too small.
    """
    import keras

    from workbench.data import store

    try:
        (x_train, y_train), (x_test, y_test) = store.load("mnist", quick=False, train_samples=samples)
    except Exception as error:  # noqa: BLE001 (any failure here is the participant's setup to fix)
        return Finding("training", False, f"MNIST did not load: {error}", "fix the data check first.")
    x_train, x_test = x_train.reshape(len(x_train), -1) / 255.0, x_test[:2000].reshape(2000, -1) / 255.0
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    try:
        model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test[:2000], verbose=0)
    except Exception as error:  # noqa: BLE001
        return Finding("training", False, f"training failed: {type(error).__name__}: {error}",
                       "copy this message to your instructor: the environment cannot train.")
    seconds = time.perf_counter() - start
    detail = (f"{epochs} epochs on {samples:,} MNIST images in {seconds:.1f} s, "
              f"test accuracy {accuracy:.3f}")
    if accuracy < SANITY_ACCURACY:
        return Finding("training", False, f"{detail}, below the {SANITY_ACCURACY} this always reaches",
                       "something computes wrongly: tell your instructor (with this line).")
    return Finding("training", True, detail)


def summary(*findings: Finding) -> str:
    """All ticks: say so. Any cross: stop with every fix, so "Run All" ends on a clear red cell."""
    failed = [f for f in findings if not f.ok]
    if failed:
        raise SetupProblem("\n".join([f"{len(failed)} of {len(findings)} checks need a fix:",
                                      *(f"- {f.topic}: {f.fix}" for f in failed)]))
    message = f"All {len(findings)} checks passed: you are ready for the labs."
    print(message)
    return message
