"""Shared fixtures. Real data comes from WORKBENCH_DATA (CI: ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The run's closing list of capabilities not tested (skipped or deselected), see capabilities.py.
from .capabilities import pytest_deselected, pytest_terminal_summary  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def quiet_env(monkeypatch, tmp_path):
    """An environment with no staged data, no Keras cache and no downloads."""
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path
