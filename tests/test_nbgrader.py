"""Real nbgrader takes the labs as they are: what it releases is our notebooks/, and it scores them.

Runs the installed ``nbgrader`` command (the ``dev`` extra pins it) in a course directory written
by ``workbench.grading.nbgrader_course.write_course``:

* ``nbgrader generate_assignment`` on every lab: the released notebook has exactly the cells (type,
  id, source) of our participant notebook, and no solution or hidden-test text;
* ``nbgrader autograde`` on lab 01 (quick mode, ~30 s on 2 cores): an honest submission gets every
  auto-graded point, a wrong model loses that check, an unanswered one gets nothing;
* a tiny course without TensorFlow (~6 s) for what the labs do not have yet: hidden tests, a
  written (markdown) answer, a passing check that writes to stderr, and what feedback shows.

``nbgrader_scores`` reads per-student, per-check points from the course's gradebook, to set beside
``workbench grade``'s gradebook.csv.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from workbench.cli import main
from workbench.grading import (
    CODE_BEGIN,
    CODE_END,
    CODE_STUB,
    HIDDEN_BEGIN,
    HIDDEN_END,
    TEXT_BEGIN,
    TEXT_END,
    instructor_version,
    participant_version,
    strip_solution,
)
from workbench.grading.nbgrader_course import (
    COURSE_ID,
    KERNEL_NAME,
    CourseError,
    nbgrader_misreadings,
    without_trailing_blank_lines,
    write_course,
)

from .conftest import ROOT

LABS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
LAB = "01_mnist_dense"
# The venv's own command, by full path and without activating the venv: the course's config must
# make that work (nbgrader looks up `alembic` on PATH when it creates the gradebook).
NBGRADER = Path(sys.executable).with_name("nbgrader")
# What generate_assignment adds to a cell's metadata beside ours: LockCells' "deletable"/"editable"
# (front-end hints: answers and checks cannot be deleted, checks not edited) and the checksum and
# cell_type nbgrader uses at autograde time to detect unanswered cells and tampered checks.
NBGRADER_ADDS = {"deletable", "editable"}
NBGRADER_ADDS_NBGRADER = {"checksum", "cell_type"}


@pytest.fixture(scope="module")
def nbgrader_command() -> Path:
    if not NBGRADER.is_file():
        message = f"nbgrader is not installed next to {sys.executable}: pip install -e '.[dev]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return NBGRADER


def run_nbgrader(course: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run ``nbgrader ARGS`` in ``course``; fail with its log unless it succeeded for everything."""
    done = subprocess.run([str(NBGRADER), *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=timeout)
    log = done.stdout + done.stderr
    # nbgrader goes on with the other assignments/students after one fails; its ERROR lines say which.
    errors = [line for line in log.splitlines() if "| ERROR]" in line]
    assert done.returncode == 0 and not errors, f"nbgrader {' '.join(args)} failed:\n{log[-6000:]}"
    return log


def nbgrader_scores(course: Path, lab: str, course_id: str = COURSE_ID) -> dict[str, dict[str, float]]:
    """Points per student and grade_id from an autograded nbgrader course.

    ``{student: {grade_id: points}}`` for every graded cell of ``lab``: checks (auto-graded) and
    written answers (manually graded: 0 until a person grades them in formgrader, and 0 for good
    if left unanswered). A check's grade_id is the column ``workbench grade`` writes for it in
    gradebook.csv (both come from ``release.py``), so the two gradebooks compare check by check;
    the sum of a student's values is nbgrader's total. Students are nbgrader's ids, i.e. the
    folder names under ``submitted/``.
    """
    from nbgrader.api import Gradebook

    database = Path(course) / "gradebook.db"
    if not database.is_file():
        raise FileNotFoundError(f"no gradebook in {course}: run `nbgrader autograde {lab}` there first.")
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{database.resolve()}", course_id=course_id) as gradebook:
        for submission in gradebook.assignment_submissions(lab):
            points = scores.setdefault(submission.student_id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    points[grade.name] = float(grade.score)
    return scores


def without_nbgrader_additions(metadata: dict) -> dict:
    metadata = json.loads(json.dumps(metadata))
    for key in NBGRADER_ADDS:
        metadata.pop(key, None)
    for key in NBGRADER_ADDS_NBGRADER:
        metadata.get("nbgrader", {}).pop(key, None)
    return metadata


def graded_cells(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of the cells nbgrader scores, from our metadata."""
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata.nbgrader["points"]
            for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}


def marked_lines(notebook: nbformat.NotebookNode) -> set[str]:
    """The non-blank lines inside solution and hidden-test regions (what must never be released)."""
    regions = {"code": [(CODE_BEGIN, CODE_END), (HIDDEN_BEGIN, HIDDEN_END)],
               "markdown": [(TEXT_BEGIN, TEXT_END)]}
    found = set()
    for cell in notebook.cells:
        for begin, end in regions.get(cell.cell_type, []):
            inside = False
            for line in cell.source.split("\n"):
                if line.strip() in (begin, end):
                    inside = line.strip() == begin
                elif inside and line.strip():
                    found.add(line.strip())
    return found


def with_answers(released: nbformat.NotebookNode, instructor: nbformat.NotebookNode,
                 edit=lambda source: source) -> nbformat.NotebookNode:
    """The released notebook with every answer cell holding the instructor's answer, as a
    participant would type it (no markers), passed through ``edit``."""
    answers = {}
    for cell in instructor.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            markers = {CODE_BEGIN, CODE_END, TEXT_BEGIN, TEXT_END}
            lines = [line for line in cell.source.split("\n") if line.strip() not in markers]
            answers[meta["grade_id"]] = "\n".join(lines)
    submission = nbformat.from_dict(json.loads(json.dumps(released)))
    for cell in submission.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = edit(answers[meta["grade_id"]])
    return submission


def submit(course: Path, lab: str, student: str, notebook: nbformat.NotebookNode) -> None:
    folder = course / "submitted" / student / lab
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{lab}.ipynb")


def grading_env(real_data: Path, tmp_path: Path, jupyter_path: str) -> dict[str, str]:
    """autograde's environment: quick mode, the staged data, and where the course's kernel is."""
    return {**os.environ, "WORKBENCH_QUICK": "1", "WORKBENCH_DATA": str(real_data),
            "WORKBENCH_LOGS": str(tmp_path / "logs"), "MPLBACKEND": "Agg", "JUPYTER_PATH": jupyter_path}


# --------------------------------------------------------------------------- the course layout


def test_write_course_lays_out_config_and_instructor_notebooks(tmp_path):
    course = write_course(ROOT / "solutions", tmp_path / "course", labs=["01", "07_autoencoders"],
                          timeout=900)
    config = (course / "nbgrader_config.py").read_text()
    assert "c.Execute.timeout = 900" in config and f"c.CourseDirectory.course_id = {COURSE_ID!r}" in config
    assert f"c.Execute.kernel_name = {KERNEL_NAME!r}" in config  # the workbench's, not a generic python3
    assert sorted(p.name for p in (course / "source").iterdir()) == ["01_mnist_dense", "07_autoencoders"]
    path = ROOT / "solutions" / "07_autoencoders.ipynb"
    written = nbformat.read(course / "source" / "07_autoencoders" / "07_autoencoders.ipynb", as_version=4)
    expected = instructor_version(nbformat.read(path, as_version=4), path)
    for cell in expected.cells:
        if cell.cell_type == "code":
            cell.source = without_trailing_blank_lines(cell.source)
    assert written == expected


@pytest.mark.parametrize(("source", "moved"), [
    ("check()\n\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS",
     "check()\n### BEGIN HIDDEN TESTS\n\nassert x\n### END HIDDEN TESTS"),
    ("check()\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS\n", "check()\n### BEGIN HIDDEN TESTS\n"
     "assert x\n### END HIDDEN TESTS"),
    ("### BEGIN SOLUTION\nx = 1\n\n### END SOLUTION\n\n", "### BEGIN SOLUTION\nx = 1\n\n### END SOLUTION"),
    ("a\n\nb\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS\nc", None),
])
def test_nbgrader_releases_code_cells_without_trailing_empty_lines(source, moved):
    result = without_trailing_blank_lines(source)
    assert result == (moved or source)
    # What nbgrader would release of `result` (its rules: keep every line outside the regions as
    # it is) is what release.py gives for the original.
    released, _ = strip_solution(result, CODE_BEGIN, CODE_END, CODE_STUB, "cell")
    released, _ = strip_solution(released, HIDDEN_BEGIN, HIDDEN_END, (), "cell")
    ours, _ = strip_solution(source, CODE_BEGIN, CODE_END, CODE_STUB, "cell")
    assert released == strip_solution(ours, HIDDEN_BEGIN, HIDDEN_END, (), "cell")[0].rstrip("\n")


def test_every_config_name_is_a_setting_of_the_installed_nbgrader(tmp_path, monkeypatch, nbgrader_command):
    """A renamed option would be ignored silently (traitlets only warns); fail here instead."""
    # Loading the config runs it: keep what it sets in os.environ out of the other tests.
    for name in ("WORKBENCH_QUICK", "PATH"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions, Execute, IgnorePattern
    from traitlets.config.loader import PyFileConfigLoader

    course = write_course(ROOT / "solutions", tmp_path / "course", labs=[LAB])
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    classes = {cls.__name__: cls for cls in (CourseDirectory, ClearHiddenTests, ClearSolutions, Execute,
                                             IgnorePattern)}
    assert set(config) == set(classes)
    for name, settings in config.items():
        assert set(settings) <= set(classes[name].class_trait_names(config=True)), name
    assert config.CourseDirectory.root == str(course.resolve())


def test_an_unknown_lab_is_named_with_the_valid_ones(tmp_path):
    with pytest.raises(CourseError, match=r"unknown lab '99'.*01_mnist_dense, 02_mnist_cnn"):
        write_course(ROOT / "solutions", tmp_path / "course", labs=["99"])


def test_a_site_config_is_never_overwritten(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'ours'\n")
    with pytest.raises(CourseError, match="config=False"):
        write_course(ROOT / "solutions", course, labs=[LAB])
    write_course(ROOT / "solutions", course, labs=[LAB], config=False)
    assert "'ours'" in (course / "nbgrader_config.py").read_text()
    assert (course / "source" / LAB / f"{LAB}.ipynb").is_file()


def test_a_stray_notebook_in_a_source_folder_is_refused_before_anything_is_written(tmp_path):
    stray = tmp_path / "course" / "source" / LAB / "scratch.ipynb"
    stray.parent.mkdir(parents=True)
    stray.write_text("{}")
    with pytest.raises(CourseError, match=r"scratch.ipynb is not part of lab 01_mnist_dense"):
        write_course(ROOT / "solutions", tmp_path / "course", labs=["01", "02"])
    assert sorted(p.name for p in (tmp_path / "course").rglob("*")) == ["01_mnist_dense", "scratch.ipynb",
                                                                         "source"]


def test_lines_nbgrader_would_read_as_markers_are_refused(tmp_path):
    notebook = new_notebook(cells=[
        new_markdown_cell("Answers go between `### BEGIN SOLUTION` and `### END SOLUTION`."),
        new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
        new_code_cell("=== BEGIN SOLUTION ===\nx = 2\n=== END SOLUTION ==="),
    ])
    problems = nbgrader_misreadings(notebook, "99_x.ipynb")
    assert [p.split(":")[0] for p in problems] == ["99_x.ipynb, cell 0 (markdown), line 1",
                                                   "99_x.ipynb, cell 2 (code), line 1",
                                                   "99_x.ipynb, cell 2 (code), line 3"]
    (tmp_path / "solutions").mkdir()
    nbformat.write(notebook, tmp_path / "solutions" / "99_x.ipynb")
    with pytest.raises(CourseError, match="cell 0 .markdown., line 1"):
        write_course(tmp_path / "solutions", tmp_path / "course")


# --------------------------------------------------------------------------- generate_assignment


@pytest.fixture(scope="module")
def released(tmp_path_factory, nbgrader_command) -> Path:
    """All labs released by one `nbgrader generate_assignment '*'` (~6 s; a run per lab, ~25 s)."""
    course = write_course(ROOT / "solutions", tmp_path_factory.mktemp("nbgrader") / "course")
    run_nbgrader(course, "generate_assignment", "*")
    return course


@pytest.mark.parametrize("lab", LABS)
def test_generate_assignment_releases_our_participant_notebook(lab, released):
    path = ROOT / "solutions" / f"{lab}.ipynb"
    solution = nbformat.read(path, as_version=4)
    ours = participant_version(solution, path)  # = notebooks/<lab>.ipynb (test_grading keeps it so)
    release = nbformat.read(released / "release" / lab / f"{lab}.ipynb", as_version=4)

    assert [(c.cell_type, c.id, c.source) for c in release.cells] == \
        [(c.cell_type, c.id, c.source) for c in ours.cells]
    assert release.metadata == ours.metadata
    assert [without_nbgrader_additions(c.metadata) for c in release.cells] == [c.metadata for c in ours.cells]
    assert all(c.outputs == [] and c.execution_count is None for c in release.cells if c.cell_type == "code")

    text = "\n".join(c.source for c in release.cells)
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    participant_lines = {line.strip() for c in ours.cells for line in c.source.split("\n")}
    # Lines of a solution that also occur outside it (a closing "])", a repeated call) are not secret.
    secret = marked_lines(solution) - participant_lines
    assert not [line for line in text.split("\n") if line.strip() in secret]


def test_generate_assignment_records_each_lab_with_our_points(released):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{released / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        recorded = {a.name: a.max_score for a in gradebook.assignments}
    expected = {}
    for lab in LABS:
        path = ROOT / "solutions" / f"{lab}.ipynb"
        expected[lab] = float(sum(graded_cells(instructor_version(nbformat.read(path, as_version=4), path))
                                  .values()))
    assert recorded == expected


# --------------------------------------------------------------------------- autograde


@pytest.mark.notebook
def test_autograde_and_workbench_grade_agree_on_lab_01(tmp_path, real_data, nbgrader_command, monkeypatch,
                                                       workbench_jupyter_path):
    course = write_course(ROOT / "solutions", tmp_path / "course", labs=[LAB])
    run_nbgrader(course, "generate_assignment", LAB)
    release = nbformat.read(course / "release" / LAB / f"{LAB}.ipynb", as_version=4)
    instructor = nbformat.read(course / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    checks = graded_cells(instructor)
    model_check = next(cell.metadata.nbgrader["grade_id"] for cell in instructor.cells
                       if "checks.model(" in cell.source)

    submit(course, LAB, "honest", with_answers(release, instructor))
    submit(course, LAB, "wrong", with_answers(release, instructor,
                                              lambda s: s.replace('Dense(64, activation="relu")',
                                                                  'Dense(32, activation="relu")')))
    submit(course, LAB, "unanswered", release)
    run_nbgrader(course, "autograde", LAB, env=grading_env(real_data, tmp_path, workbench_jupyter_path))

    scores = nbgrader_scores(course, LAB)
    assert set(scores) == {"honest", "wrong", "unanswered"}
    assert all(set(points) == set(checks) for points in scores.values())
    assert scores["honest"] == checks  # every check, every point
    assert scores["wrong"] == {**checks, model_check: 0.0}  # only the model check fails
    # Every check of lab 01 comes after its first stub, so an unanswered notebook scores nothing.
    assert scores["unanswered"] == dict.fromkeys(checks, 0.0)

    # The same submissions, as nbgrader stored them, through `workbench grade`: the same points.
    monkeypatch.setenv("WORKBENCH_DATA", str(real_data))
    gradebook = tmp_path / "gradebook.csv"
    assert main(["grade", str(course / "submitted"), "--lab", LAB, "--solutions", str(ROOT / "solutions"),
                 "--gradebook", str(gradebook), "--workers", "2",
                 *([] if shutil.which("bwrap") else ["--sandbox", "none"])]) == 0
    ours = {row["participant"]: {grade_id: float(row[grade_id]) for grade_id in checks}
            for row in csv.DictReader(gradebook.open())}
    assert ours == scores


# --------------------------------------------------------------------------- nbgrader's own rules


def tiny_solutions(folder: Path) -> Path:
    """One exercise, a check worth 2 with a hidden test and stderr output, and a written answer."""
    check = new_code_cell("import sys\nprint('a warning', file=sys.stderr)\n"
                          "assert answer > 0, 'answer should be positive'\n"
                          f"{HIDDEN_BEGIN}\nassert answer == 42, 'SECRET-HIDDEN'\n{HIDDEN_END}")
    check.metadata.update(tags=["check"], points=2)
    notebook = new_notebook(cells=[
        new_markdown_cell(f"Why 42?\n{TEXT_BEGIN}\nSECRET-PROSE.\n{TEXT_END}"),
        new_code_cell(f"{CODE_BEGIN}\nanswer = 42  # SECRET-CODE\n{CODE_END}"),
        check,
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir()
    nbformat.write(notebook, folder / "99_tiny.ipynb")
    return folder


@pytest.mark.notebook
def test_hidden_tests_written_answers_and_stderr_under_nbgrader(tmp_path, nbgrader_command,
                                                               workbench_jupyter_path):
    course = write_course(tiny_solutions(tmp_path / "solutions"), tmp_path / "course")
    run_nbgrader(course, "generate_assignment", "99_tiny")
    release = nbformat.read(course / "release" / "99_tiny" / "99_tiny.ipynb", as_version=4)
    assert "SECRET" not in json.dumps(release)
    written, code, _ = release.cells
    for student, prose, answer in (("alice", "Because.", "answer = 42"), ("bob", None, "answer = 7"),
                                   ("carol", None, None)):
        submission = nbformat.from_dict(json.loads(json.dumps(release)))
        submission.cells[0].source = prose or written.source
        submission.cells[1].source = answer or code.source
        submit(course, "99_tiny", student, submission)
    # The course runs submissions in the workbench's kernel (the config's Execute.kernel_name), not the
    # notebook's "python3": nbgrader finds it only where the kernel is registered.
    run_nbgrader(course, "autograde", "99_tiny", env={**os.environ, "JUPYTER_PATH": workbench_jupyter_path})

    check_id, text_id = (c.metadata.nbgrader["grade_id"] for c in (release.cells[2], release.cells[0]))
    scores = nbgrader_scores(course, "99_tiny")
    # alice passes both tests although the check wrote to stderr (IgnorePattern in the config);
    # bob passes the visible assert but not the hidden one, which autograde put back.
    assert {s: p[check_id] for s, p in scores.items()} == {"alice": 2.0, "bob": 0.0, "carol": 0.0}

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        answer = {s: gradebook.find_grade(text_id, "99_tiny", "99_tiny", s) for s in ("alice", "bob")}
        # A written answer is manually graded: waiting for a person once answered, 0 if left as is.
        assert (answer["alice"].auto_score, answer["alice"].needs_manual_grade) == (None, True)
        assert (answer["bob"].auto_score, answer["bob"].needs_manual_grade) == (0.0, False)

    # nbgrader's feedback shows the hidden tests (known behaviour, noted in the course config): the
    # graded check cell holds them, and a failing one is quoted in its traceback.
    run_nbgrader(course, "generate_feedback", "99_tiny")
    feedback = (course / "feedback" / "bob" / "99_tiny" / "99_tiny.html").read_text()
    assert "SECRET-HIDDEN" in feedback and "SECRET-CODE" not in feedback
