"""Participant notebooks are generated from solutions, nbgrader style; submissions are graded."""

from __future__ import annotations

import csv

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from workbench import grading
from workbench.cli import main

from .conftest import ROOT


def test_code_solution_becomes_a_stub_at_the_same_indentation():
    source = "x = 1\nif x:\n    ### BEGIN SOLUTION\n    y = 2\n    ### END SOLUTION\nprint(y)"
    text, found = grading.strip_solution(source, grading.CODE_BEGIN, grading.CODE_END,
                                         grading.CODE_STUB, "cell")
    assert found
    assert text == "x = 1\nif x:\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(y)"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another solution block"),
])
def test_unbalanced_markers_are_named(source, problem):
    with pytest.raises(grading.MarkerError, match=problem):
        grading.strip_solution(source, grading.CODE_BEGIN, grading.CODE_END, grading.CODE_STUB, "nb, cell 3")


def make_solution(tmp_path):
    check = new_code_cell("assert answer == 42, 'answer should be 42'")
    check.metadata["tags"] = ["check"]
    notebook = new_notebook(cells=[
        new_markdown_cell("Explain.\n=== BEGIN SOLUTION ===\nBecause.\n=== END SOLUTION ==="),
        new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION",
                      outputs=[nbformat.v4.new_output("stream", text="x")], execution_count=3),
        check,
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "solutions"
    folder.mkdir()
    nbformat.write(notebook, folder / "99_tiny.ipynb")
    return folder


def test_participant_version_strips_solutions_outputs_and_marks_cells(tmp_path):
    solutions = make_solution(tmp_path)
    stale = grading.generate(solutions, tmp_path / "notebooks")
    generated = nbformat.read(stale[0], as_version=4)
    text, code, check = generated.cells
    assert text.source == "Explain.\nYOUR ANSWER HERE"
    assert code.source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata.nbgrader["solution"] and not code.metadata.nbgrader["grade"]
    assert check.metadata.nbgrader["grade"] and check.metadata.nbgrader["locked"]
    assert check.metadata.nbgrader["points"] == 1
    assert grading.generate(solutions, tmp_path / "notebooks", check_only=True) == []


def test_repository_notebooks_are_exactly_what_generation_produces():
    stale = grading.generate(ROOT / "solutions", ROOT / "notebooks", check_only=True)
    assert stale == [], f"run `workbench notebooks generate`: {stale}"
    assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} == \
        {p.name for p in (ROOT / "solutions").glob("*.ipynb")}


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_notebooks_in_git_have_no_outputs(folder):
    for path in (ROOT / folder).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


def test_every_solution_has_exercises_and_checks():
    for path in (ROOT / "solutions").glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        assert any(grading.CODE_BEGIN in c.source for c in cells), path.name
        assert any("check" in c.metadata.get("tags", []) for c in cells), path.name


@pytest.mark.notebook
def test_grade_a_folder_of_submissions(tmp_path):
    solutions = make_solution(tmp_path)
    grading.generate(solutions, tmp_path / "notebooks")
    submissions = tmp_path / "submissions"
    for student, source in (("alice", "answer = 42"), ("bob", "answer = 41")):
        notebook = nbformat.read(tmp_path / "notebooks" / "99_tiny.ipynb", as_version=4)
        notebook.cells[1].source = source
        (submissions / student).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / "99_tiny.ipynb")
    gradebook = tmp_path / "gradebook.csv"
    assert main(["grade", str(submissions), "--gradebook", str(gradebook)]) == 0
    rows = {row["student"]: row for row in csv.DictReader(gradebook.open())}
    assert (rows["alice"]["points"], rows["alice"]["max_points"]) == ("1", "1")
    assert rows["bob"]["points"] == "0" and "answer should be 42" in rows["bob"]["failed_checks"]


def test_grading_an_empty_folder_says_what_is_expected(tmp_path, capsys):
    assert main(["grade", str(tmp_path)]) == 2
    assert "<folder>/<student>/<notebook>.ipynb" in capsys.readouterr().err
