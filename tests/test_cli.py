"""The workbench command: instant help, data verification, doctor."""

from __future__ import annotations

import os
import subprocess
import sys

from workbench.cli import main

NO_HEAVY_IMPORTS = """
import sys
from workbench.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = [m for m in ("tensorflow", "keras", "matplotlib") if m in sys.modules]
assert not heavy, heavy
"""


def test_help_does_not_import_tensorflow():
    done = subprocess.run([sys.executable, "-c", NO_HEAVY_IMPORTS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "data" in done.stdout and "doctor" in done.stdout


def test_console_script_is_installed():
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "workbench"), "data", "list"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "imdb" in done.stdout


def test_data_verify_on_the_real_files(described_data, capsys):
    assert main(["data", "verify", "--dir", str(described_data)]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion_mnist", "cifar10", "imdb"):
        assert f"{name} " in out
    assert out.count(" OK ") == 4 and "cifar100" in out and "missing" in out


def test_data_verify_fails_on_corrupt_files(tmp_path, capsys):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip")
    assert main(["data", "verify", "--dir", str(tmp_path)]) == 1
    assert "corrupt" in capsys.readouterr().out


def test_data_verify_named_missing_dataset_fails(tmp_path, capsys):
    assert main(["data", "verify", "mnist", "--dir", str(tmp_path)]) == 1
    assert "workbench data fetch mnist" in capsys.readouterr().out


def test_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "verify", "mnsit", "--dir", str(tmp_path)]) == 2
    assert "unknown dataset 'mnsit'" in capsys.readouterr().err


def test_doctor_reports_the_stack(real_data, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DATA", str(real_data))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow" in out and "2.21.0" in out and "keras" in out and "3.15.1" in out
    assert "GPUs" in out and "tensorboard-plugin-profile" in out and "2.24.2" in out
    assert "horovod" in out
    assert "mnist" in out and "OK" in out
