"""The "check your setup" notebook: each check's finding, and the notebook itself in good and bad setups."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from workbench import jupyter_kernel, setup_check

ROOT = Path(__file__).resolve().parents[1]
SETUP_NOTEBOOK = ROOT / "notebooks" / "check_your_setup.ipynb"


# ------------------------------------------------------------------------------------- findings


def test_data_finding_names_a_missing_directory_and_the_fix(tmp_path):
    finding = setup_check.data({"WORKBENCH_DATA": str(tmp_path / "nowhere")})
    assert not finding.ok
    assert str(tmp_path / "nowhere") in finding.detail and "does not exist" in finding.detail
    assert "workbench kernel install --user --data" in finding.fix and "Restart Kernel" in finding.fix


def test_data_finding_without_workbench_data_says_where_data_comes_from(tmp_path):
    finding = setup_check.data({"XDG_CACHE_HOME": str(tmp_path)})  # no WORKBENCH_DATA, empty cache
    assert not finding.ok and "WORKBENCH_DATA is not set" in finding.detail
    assert "ask your instructor" in finding.fix


def test_data_finding_names_the_dataset_that_is_missing(described_data, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("mnist.npz", "fashion_mnist.npz", "cifar10_subset.npz", "SHA256SUMS"):
        (partial / name).symlink_to(described_data / name)  # IMDB is not staged
    finding = setup_check.data({"WORKBENCH_DATA": str(partial)})
    assert not finding.ok
    assert "imdb missing" in finding.detail and "mnist" not in finding.detail.replace("fashion_mnist", "")
    assert "workbench data fetch imdb" in finding.fix


def test_data_finding_passes_on_the_staged_data(described_data):
    finding = setup_check.data({"WORKBENCH_DATA": str(described_data)})
    assert finding.ok, finding
    assert str(finding).startswith("✔ data: mnist, fashion_mnist, imdb, cifar10 staged and verified")


def test_kernel_finding_tells_a_generic_kernel_to_change_and_how_to_install():
    finding = setup_check.kernel({})
    assert not finding.ok
    assert "Change Kernel" in finding.fix and "workbench kernel install --user" in finding.fix
    assert setup_check.kernel({jupyter_kernel.MARKER: jupyter_kernel.KERNEL_NAME}).ok


def test_summary_lists_every_fix_or_says_ready(capsys):
    good = setup_check.Finding("versions", True, "fine")
    bad_data = setup_check.Finding("data", False, "gone", "stage it")
    bad_kernel = setup_check.Finding("kernel", False, "generic", "change it")
    with pytest.raises(setup_check.SetupProblem) as raised:
        setup_check.summary(good, bad_data, bad_kernel)
    assert str(raised.value) == "2 of 3 checks need a fix:\n- data: stage it\n- kernel: change it"
    assert "ready for the labs" in setup_check.summary(good)
    assert str(bad_data) == "✘ data: gone\n  fix: stage it"


# ------------------------------------------------------------------------------- the notebook


def _run(kernel_name: str, env_changes: dict, monkeypatch, allow_errors: bool = False):
    from nbclient import NotebookClient

    for key, value in env_changes.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    notebook = nbformat.read(SETUP_NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name=kernel_name, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(SETUP_NOTEBOOK.parent)}})
    client.execute()
    return notebook


def _outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(output.get("data", {}).get("text/plain", ""))
            texts.append(output.get("evalue", ""))
    return "".join(texts)


@pytest.fixture
def workbench_kernel(workbench_jupyter_path, monkeypatch) -> str:
    """The workbench's kernel, registered in a private Jupyter path (conftest)."""
    monkeypatch.setenv("JUPYTER_PATH", workbench_jupyter_path)
    return jupyter_kernel.KERNEL_NAME


@pytest.mark.notebook
def test_setup_notebook_passes_in_the_workbench_kernel_with_staged_data(workbench_kernel, real_data,
                                                                         monkeypatch):
    notebook = _run(workbench_kernel, {"WORKBENCH_DATA": str(real_data), "WORKBENCH_QUICK": "1"},
                    monkeypatch)
    text = _outputs(notebook)
    assert "✘" not in text, text
    for topic in ("kernel", "versions", "devices", "data", "training"):
        assert f"✔ {topic}:" in text
    assert "ready for the labs" in text
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1, "the plot of eight digits did not render inline"


@pytest.mark.notebook
def test_setup_notebook_with_a_missing_data_directory_says_how_to_fix_it(workbench_kernel, tmp_path,
                                                                          monkeypatch):
    missing = tmp_path / "not-staged"
    notebook = _run(workbench_kernel, {"WORKBENCH_DATA": str(missing)}, monkeypatch, allow_errors=True)
    text = _outputs(notebook)
    assert f"✘ data: WORKBENCH_DATA names {missing}, which does not exist" in text
    assert "✘ training: MNIST did not load" in text
    last = notebook.cells[-1].outputs[-1]
    assert last.output_type == "error" and last.ename == "SetupProblem"
    assert "- data: ask your instructor for the staged data directory" in last.evalue
    assert "✔ kernel:" in text  # the other checks still ran and passed


@pytest.mark.notebook
def test_setup_notebook_in_a_kernel_without_the_workbench_says_which_kernel_to_choose(tmp_path, monkeypatch):
    # A kernel like a hub's generic `python3` in an environment without the workbench: here the same
    # Python with `workbench` made unimportable.
    spec = tmp_path / "share" / "jupyter" / "kernels" / "no-workbench"
    spec.mkdir(parents=True)
    start = ("import sys; sys.modules['workbench'] = None; "
             "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()")
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", start, "-f", "{connection_file}"],
        "display_name": "Python 3 without the workbench", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    notebook = _run("no-workbench", {}, monkeypatch, allow_errors=True)
    outputs = notebook.cells[2].outputs
    errors = [o for o in outputs if o.output_type == "error"]  # so "Run All" stops at this cell
    assert [e.ename for e in errors] == ["RuntimeError"] and "see the fix above" in errors[0].evalue
    first = "".join(o.get("text", "") for o in outputs)
    assert "✘ This kernel cannot import the workbench" in first
    assert "Kernel → Change Kernel… → 'Keras workbench'" in first
    assert "workbench kernel install --user" in first
