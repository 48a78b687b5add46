"""Participant notebooks are generated from solutions, nbgrader style; submissions are graded."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from workbench import grading, setup_check
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
    # Besides the generated labs, only the setup check, which has no exercises and so no solution.
    assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} == \
        {p.name for p in (ROOT / "solutions").glob("*.ipynb")} | {setup_check.NOTEBOOK}


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


def tiny_lab(tmp_path) -> Path:
    """A lab without TensorFlow: a function exercise with a hidden test, a value, a written answer."""
    double_check = new_code_cell(
        'assert double(21) == 42, "double(21) should be 42"\n'
        f'{grading.HIDDEN_BEGIN}\nassert double(5) == 10, "HIDDEN-SECRET double(5)"\n{grading.HIDDEN_END}')
    double_check.metadata.update(tags=["check"], points=2)
    answer_check = new_code_cell("assert answer == 42, 'answer should be 42'")
    answer_check.metadata["tags"] = ["check"]
    notebook = new_notebook(cells=[
        new_markdown_cell("Why?\n=== BEGIN SOLUTION ===\nBecause.\n=== END SOLUTION ==="),
        new_code_cell("### BEGIN SOLUTION\ndef double(x):\n    return 2 * x\n### END SOLUTION"),
        double_check,
        new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"),
        answer_check,
    ])
    folder = tmp_path / "solutions"
    folder.mkdir()
    nbformat.write(notebook, folder / "98_tiny.ipynb")
    grading.generate(folder, tmp_path / "notebooks")
    return folder


def submit_tiny(tmp_path, participant, double="def double(x):\n    return 2 * x", answer="answer = 42"):
    notebook = nbformat.read(tmp_path / "notebooks" / "98_tiny.ipynb", as_version=4)
    notebook.cells[1].source, notebook.cells[3].source = double, answer
    folder = tmp_path / "submissions" / participant
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / "98_tiny.ipynb")


SANDBOX = [] if shutil.which("bwrap") or os.environ.get("CI") else ["--sandbox", "none"]


def grade_tiny(tmp_path, *options):
    gradebook = tmp_path / "gradebook.csv"
    code = main(["grade", str(tmp_path / "submissions"), "--lab", "98", "--solutions",
                 str(tmp_path / "solutions"), "--gradebook", str(gradebook), *SANDBOX, *options])
    rows = {row["participant"]: row for row in csv.DictReader(gradebook.open())} if gradebook.exists() else {}
    return code, rows


@pytest.fixture
def tiny_class(tmp_path):
    tiny_lab(tmp_path)
    submit_tiny(tmp_path, "alice")
    submit_tiny(tmp_path, "bob", double="def double(x):\n    return 42")  # fits the visible check only
    submit_tiny(tmp_path, "carol", answer="answer = 41")
    return tmp_path


def test_grade_a_folder_of_submissions(tiny_class):
    code, rows = grade_tiny(tiny_class)
    assert code == 0
    assert {name: (row["total"], row["max"]) for name, row in rows.items()} == \
        {"alice": ("3", "3"), "bob": ("1", "3"), "carol": ("2", "3")}
    double_id, answer_id = [c for c in rows["alice"] if c.startswith("98_tiny-cell")]
    assert (rows["bob"][double_id], rows["bob"][answer_id]) == ("0", "1")
    assert "answer should be 42" in (tiny_class / "feedback-98_tiny" / "carol.md").read_text()


def test_a_failed_hidden_test_is_named_but_never_shown(tiny_class):
    grade_tiny(tiny_class)
    bob = (tiny_class / "feedback-98_tiny" / "bob.md").read_text()
    assert "a hidden test failed" in bob
    everything = "".join(p.read_text() for p in tiny_class.rglob("*") if p.is_file() and p.suffix in
                         (".md", ".csv", ".json") or p.parent.name == "notebooks")
    assert "HIDDEN-SECRET" not in everything and "double(5)" not in everything


def test_a_written_answer_is_left_to_the_instructor(tiny_class):
    grade_tiny(tiny_class)
    assert "1 written answer(s) will be read and graded by the instructor" in \
        (tiny_class / "feedback-98_tiny" / "alice.md").read_text()


def test_regrading_one_participant_keeps_the_others_results(tiny_class):
    grade_tiny(tiny_class)
    results = tiny_class / "results-98_tiny"
    alice_before = (results / "alice.json").stat().st_mtime_ns
    submit_tiny(tiny_class, "carol")  # carol fixes her answer
    code, rows = grade_tiny(tiny_class, "--only", "carol")
    assert code == 0 and rows["carol"]["total"] == "3" and rows["bob"]["total"] == "1"
    assert (results / "alice.json").stat().st_mtime_ns == alice_before


def test_shards_then_merge_make_one_gradebook_and_name_who_was_not_graded(tiny_class):
    code, rows = grade_tiny(tiny_class, "--shard", "0/2")  # alice and carol; bob's task "never ran"
    assert code == 0 and rows == {}  # a shard writes results only
    code, rows = grade_tiny(tiny_class, "--merge")
    assert code == 0 and set(rows) == {"alice", "bob", "carol"}
    assert rows["bob"]["total"] == "0" and rows["bob"]["max"] == "3"
    assert "not graded" in rows["bob"]["failures"] and "--only bob" in rows["bob"]["failures"]


@pytest.mark.parametrize("options, expected", [
    (["--lab", "77"], "matches 0 notebooks"),
    (["--lab", "98", "--shard", "2/2"], "INDEX/COUNT"),
    (["--lab", "98", "--only", "zoe"], "no such participant folder"),
    (["--lab", "98", "--cell-seconds", "0"], "--cell-seconds 0: must be at least 1"),
])
def test_bad_grading_options_are_named(tiny_class, capsys, options, expected):
    assert main(["grade", str(tiny_class / "submissions"), "--solutions", str(tiny_class / "solutions"),
                 *options]) == 2
    assert expected in capsys.readouterr().err


def test_without_bubblewrap_grading_stops_before_anyone_and_says_how(tiny_class, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["grade", str(tiny_class / "submissions"), "--lab", "98",
                 "--solutions", str(tiny_class / "solutions")]) == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err
    assert not (tiny_class / "results-98_tiny").exists()


def test_grading_an_empty_folder_says_what_is_expected(tmp_path, capsys):
    tiny_lab(tmp_path)
    (tmp_path / "submissions").mkdir()
    assert main(["grade", str(tmp_path / "submissions"), "--lab", "98",
                 "--solutions", str(tmp_path / "solutions")]) == 2
    assert "<folder>/<participant>/<notebook>.ipynb" in capsys.readouterr().err


def test_every_lab_has_hidden_tests_and_no_participant_notebook_shows_them():
    for path in (ROOT / "solutions").glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        assert any(grading.HIDDEN_BEGIN in c.source for c in cells if grading.is_check(c)), path.name
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        assert "HIDDEN TESTS" not in path.read_text(), path.name


def test_hidden_tests_outside_a_check_cell_are_refused(tmp_path):
    notebook = new_notebook(cells=[new_code_cell(f"{grading.HIDDEN_BEGIN}\nassert 1\n{grading.HIDDEN_END}")])
    with pytest.raises(grading.MarkerError, match="hidden tests belong in a cell tagged 'check'"):
        grading.participant_version(notebook, Path("99_x.ipynb"))


def test_an_nbgrader_course_from_the_command_line(tmp_path, capsys):
    assert main(["notebooks", "nbgrader", str(tmp_path / "course"), "--labs", "01",
                 "--solutions", str(ROOT / "solutions")]) == 0
    assert (tmp_path / "course" / "source" / "01_mnist_dense" / "01_mnist_dense.ipynb").is_file()
    assert (tmp_path / "course" / "nbgrader_config.py").is_file()
    assert main(["notebooks", "nbgrader", str(tmp_path / "course"), "--labs", "77",
                 "--solutions", str(ROOT / "solutions")]) == 2
    assert "01_mnist_dense" in capsys.readouterr().err  # the valid labs are listed


def test_the_sandbox_binds_an_environment_that_lives_under_tmp(monkeypatch, tmp_path):
    """CI clones into /tmp: its venv and checkout must be bound over the sandbox's empty /tmp."""
    from workbench.grading import sandbox

    venv = tmp_path / "venv"
    venv.mkdir()
    monkeypatch.setattr(sandbox, "_python_roots", lambda: [venv])
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: "bwrap")
    argv = sandbox.Sandbox(tmp_path / "alice", sandbox.Limits()).command(["python"])
    binds = [tuple(argv[i + 1:i + 3]) for i, arg in enumerate(argv) if arg == "--ro-bind"]
    assert (str(venv), str(venv)) in binds
    assert argv.index("--tmpfs") < argv.index(str(venv))  # bound after /tmp is made


def test_staged_data_reached_through_a_symlink_is_named_by_its_real_path(tmp_path):
    """The sandbox binds the data's real path (CI reaches it through ../shared, a symlink)."""
    from workbench.grading import sandbox

    real = tmp_path / "real-data"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    box = sandbox.Sandbox(tmp_path / "alice", sandbox.Limits(), data=tmp_path / "link")
    assert box.environment()["WORKBENCH_DATA"] == str(real)


@pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                    reason="sandbox users exist only for a root grader (CI runs as root)")
def test_what_an_earlier_submission_left_running_is_ended_before_the_next_starts(tmp_path):
    """A worker's user serves one submission after another: a fork bomb still dying would count
    against the next one's process limit (in CI, an honest notebook once scored 0 that way)."""
    import subprocess
    import threading
    import time

    from workbench.grading import sandbox

    box = sandbox.Sandbox(tmp_path / "next", sandbox.Limits(), worker=7)
    left = [subprocess.Popen(["setpriv", f"--reuid={box.uid}", f"--regid={box.uid}", "--clear-groups",
                              "sleep", "300"]) for _ in range(5)]
    # Their parent reaps them when they die, as bwrap's do in the sandbox; zombies would still count.
    reapers = [threading.Thread(target=process.wait, daemon=True) for process in left]
    for reaper in reapers:
        reaper.start()
    try:
        for _ in range(100):  # each becomes the sandbox user only once setpriv has run
            if len(sandbox.processes_of(box.uid)) == 5:
                break
            time.sleep(0.1)
        assert len(sandbox.processes_of(box.uid)) == 5
        box.prepare()
        assert sandbox.processes_of(box.uid) == []
        for reaper in reapers:
            reaper.join(timeout=10)
        assert [process.returncode for process in left] == [-9] * 5
        assert box.folder.is_dir() and box.folder.stat().st_uid == box.uid
    finally:
        for process in left:
            process.kill()
            process.wait()
