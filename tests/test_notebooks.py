"""Every solution runs top to bottom in quick mode; every participant notebook stops at its stub."""

from __future__ import annotations

import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from workbench import grading
from workbench.grading.grader import Lab, grade_submission
from workbench.grading.sandbox import Limits

from .conftest import ROOT

LABS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


def execute(path, real_data, monkeypatch, tmp_path, jupyter_path):
    monkeypatch.setenv("WORKBENCH_QUICK", "1")
    monkeypatch.setenv("WORKBENCH_DATA", str(real_data))
    monkeypatch.setenv("WORKBENCH_LOGS", str(tmp_path / "logs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_PATH", jupyter_path)
    notebook = nbformat.read(path, as_version=4)
    # No kernel_name: nbclient starts the kernel the notebook's own metadata names, as JupyterLab does.
    client = NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}})
    return notebook, client


def honest_submission(lab: str) -> nbformat.NotebookNode:
    """What a participant who answers like the solution hands in: the solution's answers in the
    participant notebook (nbgrader metadata), without the hidden tests."""
    path = ROOT / "solutions" / f"{lab}.ipynb"
    notebook = grading.instructor_version(nbformat.read(path, as_version=4), path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = grading.strip_solution(cell.source, grading.HIDDEN_BEGIN, grading.HIDDEN_END, (),
                                                 path.name)[0]
    return notebook


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_solution_graded_as_a_submission_gets_every_point(lab, real_data, tmp_path):
    """The solution runs top to bottom in quick mode, in the grading sandbox, and passes every
    check and hidden test as the referee runs them on what the kernel handed over."""
    submission = tmp_path / f"{lab}.ipynb"
    nbformat.write(honest_submission(lab), submission)
    isolate = shutil.which("bwrap") is not None or bool(os.environ.get("CI"))
    result = grade_submission(Lab.find(ROOT / "solutions", lab), "solution", submission, tmp_path / "work",
                              Limits(), real_data, quick=True, isolate=isolate)
    assert (result.failure, result.errors) == ("", []), result
    assert result.max_points > 0 and result.total == result.max_points, result.checks
    logs = tmp_path / "work" / "solution" / "logs"
    assert any(logs.rglob("events.out.tfevents.*")), "no TensorBoard logs written"


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_participant_notebook_stops_exactly_at_the_first_stub(lab, real_data, monkeypatch, tmp_path,
                                                              workbench_jupyter_path):
    notebook, client = execute(ROOT / "notebooks" / f"{lab}.ipynb", real_data, monkeypatch, tmp_path,
                               workbench_jupyter_path)
    first_stub = next(i for i, c in enumerate(notebook.cells)
                      if c.cell_type == "code" and "raise NotImplementedError()" in c.source)
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        client.execute()
    executed = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.execution_count]
    assert executed[-1] == first_stub
    for index in executed[:-1]:
        assert not any(o.output_type == "error" for o in notebook.cells[index].outputs), index
