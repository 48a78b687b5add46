"""Run-time settings read from the environment, in one place.

Configuration order across the project is: defaults < config file < environment < command-line
flags. This module owns the environment layer, so every lab, notebook and test reads the same
variables with the same meaning:

``WORKBENCH_DATA``     directory with staged datasets (see ``workbench data verify``)
``WORKBENCH_OFFLINE``  "1": never try to download (compute nodes without internet)
``WORKBENCH_QUICK``    "1": small deterministic subsets and two epochs, for CI and quick looks
``WORKBENCH_LOGS``     root of per-user, per-run log directories (default ``./logs``)
``WORKBENCH_ROOT``     the repository checkout (default: the one this package is installed from)
``WORKBENCH_HOROVOD_IFACE``  network interface for Horovod's Gloo traffic (default: the node's)

SLURM's own variables (``SLURM_*``) and TensorFlow's ``TF_CONFIG`` belong to the job, not to us,
and are read where they are interpreted (``workbench.distribute``).
"""

from __future__ import annotations

import getpass
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable, refusing values we cannot interpret."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={raw!r} is not a yes/no value; set it to 1 or 0.")


def quick_mode(override: bool | None = None) -> bool:
    """True when data and epochs should shrink so a notebook runs in seconds."""
    return env_flag("WORKBENCH_QUICK") if override is None else override


def offline(override: bool | None = None) -> bool:
    """True when downloads must not be attempted."""
    return env_flag("WORKBENCH_OFFLINE") if override is None else override


QUICK_EPOCHS = 2  # two points make a learning curve; still seconds on a quick subset


def epochs(full: int, quick: int = QUICK_EPOCHS) -> int:
    """Number of epochs to train: ``full`` normally, ``quick`` in quick mode.

    Notebooks write ``epochs=settings.epochs(10)`` so the lecture's value stays visible.
    """
    return quick if quick_mode() else full


def data_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The staged-data directory named by ``WORKBENCH_DATA``, or None if unset.

    ``env`` stands in for ``os.environ`` (the setup check judges a kernel's environment with it).
    """
    raw = (os.environ if env is None else env).get("WORKBENCH_DATA")
    return Path(raw).expanduser() if raw else None


def download_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where fetched datasets go when no directory is given."""
    env = os.environ if env is None else env
    staged = data_dir(env)
    if staged is not None:
        return staged
    cache = env.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "workbench" / "data"


def keras_cache_dir() -> Path:
    """Keras' own dataset cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets"


def repository_root() -> Path:
    """The checkout holding ``sweeps/``, ``labs/`` and ``slurm/`` (``WORKBENCH_ROOT`` or this package's)."""
    root = Path(os.environ.get("WORKBENCH_ROOT") or Path(__file__).resolve().parents[2])
    if not (root / "sweeps").is_dir():
        raise FileNotFoundError(f"{root} is not a workbench checkout (no sweeps/ folder); "
                                "set WORKBENCH_ROOT to the repository's directory")
    return root


def logs_root() -> Path:
    return Path(os.environ.get("WORKBENCH_LOGS", "logs")).expanduser()


def logs_override() -> Path | None:
    """``WORKBENCH_LOGS`` when set: the environment layer of a lab's ``--log-dir``."""
    raw = os.environ.get("WORKBENCH_LOGS")
    return Path(raw).expanduser() if raw else None


def lab_environment() -> dict:
    """The environment layer of a lab's options: only the settings the environment actually sets."""
    found = {"data_dir": data_dir(), "log_dir": logs_override(), "quick": quick_mode() or None}
    return {key: value for key, value in found.items() if value is not None}


def horovod_iface() -> str | None:
    """``WORKBENCH_HOROVOD_IFACE``: the interface Gloo should use when the node's address is elsewhere."""
    return os.environ.get("WORKBENCH_HOROVOD_IFACE") or None


def safe_name(part: str) -> str:
    """``part`` made safe as one path component."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", part).strip("-") or "x"


def run_id() -> str:
    """A run name unique across users, jobs and array tasks on a shared file system.

    SLURM jobs get their job id (and array task id); interactive runs get a timestamp plus the
    process id, so two notebooks started in the same second still differ.
    """
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if job:
        return f"{stamp}-job{job}" + (f"-task{task}" if task else "")
    return f"{stamp}-pid{os.getpid()}"


def sweep_id() -> str:
    """One name for all points of a sweep: the array job's id (shared by its tasks) or a stamp."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    return f"job{job}" if job else time.strftime("%Y%m%d-%H%M%S")


def sweep_dir(sweep_file: Path | str, root: Path | str | None = None, run: str | None = None) -> Path:
    """``<root>/<user>/sweep-<name>/<run>``: where every point of one sweep (one array job) goes."""
    return run_dir(f"sweep-{Path(sweep_file).stem}", root, run or sweep_id())


def run_dir(lab: str, root: Path | str | None = None, run: str | None = None) -> Path:
    """``<root>/<user>/<lab>/<run>``: per-user, per-run, never shared between two runs."""
    base = Path(root) if root is not None else logs_root()
    user = safe_name(os.environ.get("USER") or getpass.getuser())
    return base / user / safe_name(lab) / safe_name(run or run_id())
