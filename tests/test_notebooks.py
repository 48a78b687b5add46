"""Every solution runs top to bottom in quick mode; every participant notebook stops at its stub."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .conftest import ROOT

LABS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


def execute(path, real_data, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_QUICK", "1")
    monkeypatch.setenv("WORKBENCH_DATA", str(real_data))
    monkeypatch.setenv("WORKBENCH_LOGS", str(tmp_path / "logs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    return notebook, client


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_solution_runs_in_quick_mode(lab, real_data, monkeypatch, tmp_path):
    notebook, client = execute(ROOT / "solutions" / f"{lab}.ipynb", real_data, monkeypatch, tmp_path)
    client.execute()
    checks_run = [c for c in notebook.cells if "check" in c.metadata.get("tags", [])]
    assert checks_run and all("\u2705" in str(c.outputs) for c in checks_run)
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*")), "no TensorBoard logs written"


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_participant_notebook_stops_exactly_at_the_first_stub(lab, real_data, monkeypatch, tmp_path):
    notebook, client = execute(ROOT / "notebooks" / f"{lab}.ipynb", real_data, monkeypatch, tmp_path)
    first_stub = next(i for i, c in enumerate(notebook.cells)
                      if c.cell_type == "code" and "raise NotImplementedError()" in c.source)
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        client.execute()
    executed = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.execution_count]
    assert executed[-1] == first_stub
    for index in executed[:-1]:
        assert not any(o.output_type == "error" for o in notebook.cells[index].outputs), index
