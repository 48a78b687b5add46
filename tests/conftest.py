"""Shared fixtures. Real data comes from WORKBENCH_DATA (CI: ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The run's closing list of capabilities not tested (skipped or deselected), see capabilities.py.
from .capabilities import (  # noqa: F401
    pytest_deselected,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)

ROOT = Path(__file__).resolve().parents[1]


# Modules whose module-scoped fixtures run real trainings (the data-parallel probes, the HParams
# sweep, the grading battery): under pytest-xdist each worker would run them once (the battery's
# 3 minutes ran twice in a CI run); grouped, one worker runs them once.
SHARED_FIXTURE_MODULES = {"test_data_parallel": "data-parallel probes",
                          "test_tensorboard": "tensorboard sweep",
                          "test_grading_battery": "grading battery"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `./workshop test` runs the suite on pytest-xdist workers (`--dist loadgroup`): while one
    # trains, another waits on SLURM. The SLURM tests share one cluster, whose idle nodes some of
    # them need, so they all go to the same worker, one after another; they come first, the
    # longest (a job running into its time limit, ~8 min) at their head, so that their waiting
    # overlaps the other workers' training instead of ending the run alone.
    # tryfirst: xdist reads the xdist_group markers in its own hook of this name, to put the group
    # into each test's id; run after it, as this hook once did, the groups were silently ignored
    # (the grading battery's module fixture ran on two workers, SLURM tests ran side by side).
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif item.path.stem in SHARED_FIXTURE_MODULES:
            item.add_marker(pytest.mark.xdist_group(SHARED_FIXTURE_MODULES[item.path.stem]))

    def order(item: pytest.Item) -> tuple[int, int]:
        if item.get_closest_marker("slurm"):
            return (0, 0 if "time_limit" in item.name else 1)
        return (1, 0)

    items[:] = sorted(items, key=order)  # stable: the rest keep their order


def real_data_dir() -> Path | None:
    for candidate in (os.environ.get("WORKBENCH_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist.npz").is_file():
            return Path(candidate).resolve()  # ranks may start in another directory
    return None


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The staged real datasets; in CI their absence is a failure, not a skip."""
    found = real_data_dir()
    if found is None:
        message = "real data not staged: set WORKBENCH_DATA to a directory like ../shared/data"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def workbench_jupyter_path(tmp_path_factory) -> str:
    """A JUPYTER_PATH under which the notebooks' kernel (``KERNEL_NAME``) starts this environment.

    Registered by ``workbench.jupyter_kernel.install`` into a private prefix rather than taken from
    the machine: ``./workshop setup`` registers one in the venv, but a user-level registration
    from another checkout, or none at all (a plain ``pip install -e``), must not decide which
    python runs the notebooks. JUPYTER_PATH is searched before every other place. The kernel
    carries no WORKBENCH_DATA or WORKBENCH_QUICK, so it inherits the test's.
    """
    from workbench import jupyter_kernel

    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    jupyter_kernel.install(prefix=prefix)
    return str(prefix / "share" / "jupyter")


# The staged files the data tests describe; anything else a site stages beside them (CIFAR-100, full
# CIFAR-10) is left out, so the tests assert behaviour, not today's contents of WORKBENCH_DATA.
DESCRIBED_FILES = ("mnist.npz", "fashion_mnist.npz", "cifar10_subset.npz", "imdb_reviews.npz", "SHA256SUMS")


@pytest.fixture
def described_data(real_data, tmp_path) -> Path:
    """A data directory linking only DESCRIBED_FILES from the staged one (CIFAR-100 is missing)."""
    directory = tmp_path / "described-data"
    directory.mkdir()
    for name in DESCRIBED_FILES:
        (directory / name).symlink_to(real_data / name)
    return directory


@pytest.fixture
def quiet_env(monkeypatch, tmp_path):
    """An environment with no staged data, no Keras cache and no downloads."""
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path
