"""`workbench kernel install/remove` and the notebooks' named kernel: registered, found, started, removed.

Every test runs with Jupyter's search path confined to temporary directories (``isolated_jupyter``):
the user's directory is ``$JUPYTER_DATA_DIR``, and this environment's and the system's directories
are replaced by empty ones, so a kernel that ``./workshop setup`` registered in the venv, or one in
the real ``~/.local/share/jupyter``, can neither satisfy nor disturb a test.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import workbench
from workbench import jupyter_kernel
from workbench.cli import main
from workbench.jupyter_kernel import KERNEL_NAME, MARKER

from .conftest import ROOT


@pytest.fixture
def isolated_jupyter(tmp_path, monkeypatch) -> Path:
    """Jupyter sees only directories under ``tmp_path``; returns the user's data directory."""
    import jupyter_core.paths

    user = tmp_path / "jupyter-user"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(user))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # its kernels/ is searched too
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    monkeypatch.setattr(jupyter_core.paths, "ENV_JUPYTER_PATH", [str(tmp_path / "env-share-jupyter")])
    monkeypatch.setattr(jupyter_core.paths, "SYSTEM_JUPYTER_PATH", [str(tmp_path / "system-share-jupyter")])
    monkeypatch.setattr(site, "ENABLE_USER_SITE", False)
    return user


def stale_kernel(kernels: Path, python: str, name: str = KERNEL_NAME, marker: bool = True) -> Path:
    """A kernel.json as an earlier install left it, starting ``python``."""
    folder = kernels / name
    folder.mkdir(parents=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "old", "language": "python", "env": {MARKER: name} if marker else {}}
    (folder / "kernel.json").write_text(json.dumps(spec))
    return folder


def run_in_kernel(code: str, cwd: Path) -> str:
    """Start the kernel named KERNEL_NAME the way JupyterLab does, run ``code``, return its stdout."""
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name=KERNEL_NAME)
    manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    out: list[str] = []
    try:
        client.wait_for_ready(timeout=120)
        reply = client.execute_interactive(
            code, timeout=120,
            output_hook=lambda msg: out.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream"
            else None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return "".join(out)


# --------------------------------------------------------------------------- the round trip


def test_install_find_start_and_remove_with_a_prefix(isolated_jupyter, tmp_path, monkeypatch, capsys):
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path / "prefix"
    # A "$" in the path: Jupyter substitutes $NAME in a kernel's env values, so the spec escapes it.
    data = tmp_path / "staged-$USER-data"
    data.mkdir()
    assert main(["kernel", "install", "--prefix", str(prefix), "--data", str(data), "--quick"]) == 0
    out = capsys.readouterr().out
    where = prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME
    assert f"in {where}" in out and f"python: {sys.executable}" in out
    assert f"Kernel → Change Kernel… → \"{jupyter_kernel.DISPLAY_NAME}\"" in out
    # A prefix no Jupyter here searches: the output says how to make it searched.
    assert f"export JUPYTER_PATH={prefix / 'share' / 'jupyter'}" in out
    assert jupyter_kernel.installed() is None

    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    assert Path(KernelSpecManager().find_kernel_specs()[KERNEL_NAME]) == where
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable and os.path.isabs(spec.argv[0])
    assert spec.env == {MARKER: KERNEL_NAME, "WORKBENCH_DATA": str(data).replace("$", "$$"),
                        "WORKBENCH_QUICK": "1"}
    assert spec.display_name == jupyter_kernel.DISPLAY_NAME == f"Keras workbench (Python {sys.version[:4]})"
    registration = jupyter_kernel.installed()
    assert registration.resource_dir == where and registration.problem() is None

    # Started as JupyterLab starts it, from a server whose own WORKBENCH_DATA differs: the kernel
    # runs this environment's python, with the workbench importable and the spec's settings.
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "the-servers-data"))
    printed = run_in_kernel(
        "import os, sys, workbench\n"
        "from workbench import jupyter_kernel\n"
        "print(os.environ['WORKBENCH_DATA'], os.environ['WORKBENCH_QUICK'], os.environ['WORKBENCH_KERNEL'],\n"
        "      jupyter_kernel.current_kernel(), sys.executable, workbench.__file__, sep='\\n')\n",
        cwd=tmp_path)
    assert printed.splitlines() == [str(data), "1", KERNEL_NAME, KERNEL_NAME, sys.executable,
                                    workbench.__file__]

    assert main(["kernel", "remove", "--prefix", str(prefix)]) == 0
    assert f"Removed Jupyter kernel '{KERNEL_NAME}' from {where.parent}" in capsys.readouterr().out
    assert not where.exists()
    assert KERNEL_NAME not in KernelSpecManager().find_kernel_specs()
    assert jupyter_kernel.installed() is None


def test_user_install_goes_to_jupyter_data_dir_and_carries_only_what_was_asked(isolated_jupyter, monkeypatch,
                                                                               capsys):
    assert main(["kernel", "install"]) == 0  # --user is the default
    where = isolated_jupyter / "kernels" / KERNEL_NAME
    spec = json.loads((where / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    assert spec["env"] == {MARKER: KERNEL_NAME}  # no WORKBENCH_DATA set, no --quick: the kernel inherits
    assert jupyter_kernel.installed().resource_dir == where  # a Jupyter from here finds it, no JUPYTER_PATH
    assert "export JUPYTER_PATH" not in capsys.readouterr().out

    data = isolated_jupyter.parent / "data"
    data.mkdir()
    monkeypatch.setenv("WORKBENCH_DATA", str(data))
    assert main(["kernel", "install", "--user", "--no-quick"]) == 0  # replaces the first
    spec = json.loads((where / "kernel.json").read_text())
    assert spec["env"] == {MARKER: KERNEL_NAME, "WORKBENCH_DATA": str(data), "WORKBENCH_QUICK": "0"}

    assert main(["kernel", "remove", "--user"]) == 0
    assert not where.exists() and jupyter_kernel.installed() is None


def test_a_second_name_gets_its_own_marker_and_display_name(isolated_jupyter):
    assert main(["kernel", "install", "--name", "Keras-Workbench-GPU"]) == 0
    spec = json.loads((isolated_jupyter / "kernels" / "keras-workbench-gpu" / "kernel.json").read_text())
    assert spec["env"][MARKER] == "keras-workbench-gpu"
    assert spec["display_name"] == f"Keras workbench: keras-workbench-gpu (Python {sys.version[:4]})"


# --------------------------------------------------------------------------- refusals


def test_a_missing_data_directory_is_refused_with_its_name_and_the_fix(isolated_jupyter, tmp_path,
                                                                       monkeypatch, capsys):
    missing = tmp_path / "not-staged"
    assert main(["kernel", "install", "--user", "--data", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--data {missing}: {missing} is not a directory" in err
    assert f"workbench data fetch --dir {missing}" in err
    assert not (isolated_jupyter / "kernels").exists()

    monkeypatch.setenv("WORKBENCH_DATA", str(missing))  # the default comes from the environment
    assert main(["kernel", "install", "--user"]) == 2
    err = capsys.readouterr().err
    assert f"WORKBENCH_DATA={missing} (from your environment) is not a directory" in err
    assert "unset WORKBENCH_DATA" in err and "--data DIR" in err
    assert not (isolated_jupyter / "kernels").exists()


def test_an_invalid_name_is_refused(isolated_jupyter, capsys):
    assert main(["kernel", "install", "--name", "keras workbench"]) == 2
    assert "kernel name 'keras workbench': Jupyter accepts only ASCII letters" in capsys.readouterr().err


def test_remove_leaves_kernels_it_did_not_write(isolated_jupyter, tmp_path, capsys):
    prefix = tmp_path / "site"
    theirs = stale_kernel(prefix / "share" / "jupyter" / "kernels", sys.executable, name="python3",
                          marker=False)
    assert main(["kernel", "remove", "--prefix", str(prefix), "--name", "python3"]) == 2
    err = capsys.readouterr().err
    assert "is not a workbench kernel" in err and "jupyter kernelspec remove python3" in err
    assert (theirs / "kernel.json").is_file()

    assert main(["kernel", "remove", "--user"]) == 2
    assert f"no kernel '{KERNEL_NAME}' in {isolated_jupyter / 'kernels'} (--user)" in capsys.readouterr().err


# --------------------------------------------------------------------------- stale registrations


def test_a_kernel_of_a_deleted_or_other_environment_is_stale(tmp_path):
    gone = jupyter_kernel.Registration(KERNEL_NAME, tmp_path / KERNEL_NAME, "old",
                                       [str(tmp_path / "old-venv" / "bin" / "python")], {MARKER: KERNEL_NAME})
    assert "no longer exists" in gone.problem()
    # A venv's python links to the base python, yet it is another environment.
    other_venv = tmp_path / "other-venv" / "bin" / "python"
    other_venv.parent.mkdir(parents=True)
    other_venv.symlink_to(os.path.realpath(sys.executable))
    other = jupyter_kernel.Registration(KERNEL_NAME, tmp_path / KERNEL_NAME, "other", [str(other_venv)],
                                        {MARKER: KERNEL_NAME})
    assert "another environment's python" in other.problem()
    assert not jupyter_kernel.same_environment(os.path.realpath(sys.executable), other_venv)
    bare = jupyter_kernel.Registration(KERNEL_NAME, tmp_path / KERNEL_NAME, "bare", ["python3"], {})
    assert "Jupyter replaces by the python it runs in" in bare.problem()
    sibling = Path(sys.executable).with_name("python3")  # another name in this venv's bin/
    assert jupyter_kernel.same_environment(sibling, sys.executable)


def test_doctor_reports_the_kernel_missing_installed_and_stale(isolated_jupyter, tmp_path, monkeypatch,
                                                                capsys):
    main(["doctor"])
    out = capsys.readouterr().out
    assert f"{KERNEL_NAME} not installed; fix: workbench kernel install --user" in out

    assert main(["kernel", "install", "--user"]) == 0
    capsys.readouterr()
    main(["doctor"])
    out = capsys.readouterr().out
    assert f"{KERNEL_NAME} in {isolated_jupyter / 'kernels' / KERNEL_NAME}" in out
    assert f"{sys.executable} (this environment)" in out
    assert f"{MARKER}={KERNEL_NAME}" in out

    # A kernel from an environment since deleted, found first (JUPYTER_PATH): what a hub would start.
    stale_prefix = tmp_path / "old" / "share" / "jupyter"
    stale_kernel(stale_prefix / "kernels", str(tmp_path / "old" / "venv" / "bin" / "python"))
    monkeypatch.setenv("JUPYTER_PATH", str(stale_prefix))
    main(["doctor"])
    out = capsys.readouterr().out
    assert (f"its python {tmp_path / 'old' / 'venv' / 'bin' / 'python'} no longer exists (its environment "
            f"was deleted or moved); fix: workbench kernel install --prefix {tmp_path / 'old'}") in out
    assert f"{'also registered':28s} {isolated_jupyter / 'kernels' / KERNEL_NAME}: this environment" in out


# --------------------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_every_notebook_asks_for_the_workbench_kernel(folder):
    paths = sorted((ROOT / folder).glob("*.ipynb"))
    assert paths
    for path in paths:
        kernelspec = nbformat.read(path, as_version=4).metadata.kernelspec
        assert (kernelspec.name, kernelspec.language) == (KERNEL_NAME, "python"), path
        assert kernelspec.display_name.startswith("Keras workbench"), path


def test_help_imports_no_jupyter():
    code = ("import sys\nfrom workbench.cli import main\n"
            "for argv in (['--help'], ['kernel', 'install', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = {'jupyter_client', 'ipykernel', 'tensorflow'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--sys-prefix" in done.stdout and "--no-quick" in done.stdout
