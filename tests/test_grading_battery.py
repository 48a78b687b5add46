"""One `workbench grade` over a class of honest, unfinished, broken, abusive and cheating submissions.

The class takes lab 01 (real MNIST, quick mode) in the bubblewrap sandbox, two submissions at a
time, with short limits so that the looping ones cost seconds. Every test below reads the one
gradebook, feedback and result files that run wrote; each names the submission it is about.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from workbench.cli import main
from workbench.grading import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    instructor_version,
    participant_version,
    strip_solution,
)

from .conftest import ROOT

pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif(shutil.which("bwrap") is None and not os.environ.get("CI"),
                                 reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap")]

LAB = "01_mnist_dense"
SOLUTION = ROOT / "solutions" / f"{LAB}.ipynb"
SCALE, MODEL, COMPILE = 5, 8, 11  # answer cells of lab 01
CHECKS = 4
# Short, so the looping submissions cost seconds, yet twice what the slowest honest cell took
# under CI load: the first cell (importing TensorFlow) once ran past a 15 s limit there.
CELL_SECONDS = 30

WRONG_MODEL = """model = keras.Sequential([
    keras.Input(shape=(28, 28)),
    keras.layers.Flatten(),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])"""
PATCH_CHECKS = """import builtins
import workbench.checks
for name in dir(workbench.checks):
    if not name.startswith("_") and callable(getattr(workbench.checks, name)):
        setattr(workbench.checks, name, lambda *args, **kwargs: True)
checks = workbench.checks
builtins.AssertionError = type("Never", (Exception,), {})
builtins.isinstance = lambda *args: True
print("\\u2705 all checks passed")
"""
INTRUDER = """import glob, os
here = os.getcwd()
# Other submissions' folders, the grader's class folder, the instructor's solutions, the grader's home.
looked = {LOOK!r} + glob.glob(os.path.dirname(here) + "/*")
seen = sorted(p for p in looked if os.path.exists(p) and not p.startswith(here))
damage = []
for target in {TARGETS!r}:
    try:
        with open(target, "w") as handle:
            handle.write("vandalised")
        damage.append(target)
    except OSError as error:
        damage.append(type(error).__name__)
raise RuntimeError(f"SEEN {seen} WRITTEN {[d for d in damage if d.startswith('/')]}")
"""


def solution_answers() -> nbformat.NotebookNode:
    """The honest submission: the participant notebook with the solution's answers (no hidden tests)."""
    notebook = instructor_version(nbformat.read(SOLUTION, as_version=4), SOLUTION)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = strip_solution(cell.source, HIDDEN_BEGIN, HIDDEN_END, (), "x")[0]
    return notebook


def with_answers(base: nbformat.NotebookNode, **answers: str) -> nbformat.NotebookNode:
    notebook = nbformat.from_dict(base)
    cells = {"scale": SCALE, "model": MODEL, "compile": COMPILE}
    for name, source in answers.items():
        notebook.cells[cells[name]].source = source
    return notebook


def honest_source(index: int) -> str:
    return solution_answers().cells[index].source


def battery() -> dict[str, nbformat.NotebookNode]:
    honest = solution_answers()
    stub = participant_version(nbformat.read(SOLUTION, as_version=4), SOLUTION)
    wrong = with_answers(stub, scale="pass", model=WRONG_MODEL)  # no scaling, 32 units, not compiled
    # Checks deleted, and ticks printed where they were.
    checks_deleted = with_answers(wrong, scale='print("\\u2705 4/4 points, all checks passed")')
    checks_deleted.cells = [c for c in checks_deleted.cells if "check" not in c.metadata.get("tags", [])]
    checks_edited = nbformat.from_dict(wrong)
    for cell in checks_edited.cells:
        if "check" in cell.metadata.get("tags", []):
            cell.source = 'print("\\u2705 passed")'
    stripped = nbformat.from_dict(honest)
    for cell in stripped.cells:
        cell.metadata = {}
    after_compile = honest_source(COMPILE)
    return {
        "honest": honest,
        "unfinished": stub,
        "raising": with_answers(honest, model='raise ValueError("I give up")'),
        "loops_at_start": with_answers(honest, scale="import time\nwhile True:\n    time.sleep(0.1)"),
        "loops_at_end": with_answers(honest, compile=after_compile + (
            "\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")),
        "os_exit": with_answers(honest, compile=after_compile + "\nimport os\nos._exit(1)"),
        # np.empty: the limit counts memory as it is reserved, and filling gigabytes with ones costs
        # this VM 6-30 s of page faults, which the cell limit would end first.
        "memory_bomb": with_answers(honest, compile=after_compile + (
            "\ndef grow():\n    blocks = []\n    while True:\n"
            "        blocks.append(np.empty(10**8))\ngrow()")),
        "fork_bomb": with_answers(honest, compile=after_compile + (
            "\nimport os\nwhile True:\n    os.fork()")),
        "floods_output": with_answers(honest, compile=after_compile + (
            "\nwhile True:\n    print('x' * 10000)")),
        "checks_deleted": checks_deleted,
        "checks_edited": checks_edited,
        "metadata_stripped": stripped,
        "checks_patched": with_answers(wrong, scale=PATCH_CHECKS),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory, real_data):
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submissions"
    for name, notebook in battery().items():
        (submissions / name).mkdir(parents=True)
        nbformat.write(notebook, submissions / name / f"{LAB}.ipynb")
    home_marker = Path.home() / "workbench-vandalised"
    secret = Path.home() / ".workbench-grader-secret"  # stands for the grader's own files
    secret.write_text("the grader's")
    look = [str(submissions), str(root), str(ROOT / "solutions"), str(secret)]
    targets = [str(submissions / "honest" / f"{LAB}.ipynb"), str(root / "gradebook.csv"),
               str(home_marker), str(SOLUTION), "/etc/passwd-vandal", "/usr/vandal"]
    intruder = INTRUDER.replace("{LOOK!r}", repr(look)).replace("{TARGETS!r}", repr(targets))
    (submissions / "intruder").mkdir()
    # It also calls sys.exit after its model: IPython reports SystemExit and the notebook goes on.
    nbformat.write(with_answers(solution_answers(), compile=honest_source(COMPILE) + "\n" + intruder,
                                model=honest_source(MODEL) + "\nimport sys\nsys.exit(3)"),
                   submissions / "intruder" / f"{LAB}.ipynb")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in submissions.rglob("*.ipynb")}
    solution_hash = hashlib.sha256(SOLUTION.read_bytes()).hexdigest()
    code = main(["grade", str(submissions), "--lab", "01", "--gradebook", str(root / "gradebook.csv"),
                 "--workers", "2", "--cell-seconds", str(CELL_SECONDS), "--notebook-seconds", "300",
                 "--memory-mb", "4096", "--processes", "256"])
    rows = {row["participant"]: row for row in csv.DictReader((root / "gradebook.csv").open())}
    yield {"code": code, "root": root, "rows": rows, "before": before, "home_marker": home_marker,
           "solution_hash": solution_hash}
    home_marker.unlink(missing_ok=True)
    secret.unlink(missing_ok=True)


def points(graded, name) -> tuple[int, int]:
    row = graded["rows"][name]
    return int(row["total"]), int(row["max"])


def feedback(graded, name) -> str:
    return (graded["root"] / f"feedback-{LAB}" / f"{name}.md").read_text()


def test_the_run_finishes_with_a_row_for_everyone(graded):
    assert graded["code"] == 0
    assert set(graded["rows"]) == set(battery()) | {"intruder"}
    assert all(int(row["max"]) == CHECKS for row in graded["rows"].values()), "max is the instructor's"


def test_honest_work_gets_full_marks(graded):
    assert points(graded, "honest") == (CHECKS, CHECKS), graded["rows"]["honest"]
    assert graded["rows"]["honest"]["failures"] == ""


def test_unfinished_work_gets_nothing_and_says_so(graded):
    assert points(graded, "unfinished") == (0, CHECKS)
    assert "NotImplementedError" in feedback(graded, "unfinished")


def test_a_raising_cell_costs_only_what_depends_on_it(graded):
    assert points(graded, "raising") == (1, CHECKS)  # images scaled; no model afterwards
    assert "ValueError: I give up" in feedback(graded, "raising")


def test_a_loop_at_the_start_times_out_and_scores_zero(graded):
    assert points(graded, "loops_at_start") == (0, CHECKS)
    assert f"ran past the {CELL_SECONDS} s limit" in graded["rows"]["loops_at_start"]["failures"]


def test_a_loop_that_ignores_interrupts_after_the_work_keeps_the_credit_before_it(graded):
    assert points(graded, "loops_at_end") == (2, CHECKS)  # images and model checks ran before it
    assert "did not stop when interrupted" in graded["rows"]["loops_at_end"]["failures"]


def test_sys_exit_is_an_error_the_notebook_survives(graded):
    assert points(graded, "intruder") == (CHECKS, CHECKS)  # its checks after sys.exit(3) ran
    assert "SystemExit: 3" in feedback(graded, "intruder")


def test_a_dying_kernel_keeps_the_credit_before_it(graded):
    assert points(graded, "os_exit") == (2, CHECKS)
    assert "kernel died" in graded["rows"]["os_exit"]["failures"]


def test_a_memory_bomb_hits_the_memory_limit_and_the_work_before_it_counts(graded):
    # IPython keeps the failed frame (and its memory) for %debug, so later cells may starve too.
    assert points(graded, "memory_bomb")[0] >= 3  # images, model, compile (exported after the bomb)
    assert "MemoryError" in feedback(graded, "memory_bomb")


def test_a_fork_bomb_is_contained(graded):
    total, _ = points(graded, "fork_bomb")
    assert total >= 2  # the checks before the bomb
    result = json.loads((graded["root"] / f"results-{LAB}" / "fork_bomb.json").read_text())
    if result["sandbox_user"] is not None:  # a root grader: the bomb had a user of its own
        leftover = subprocess.run(["pgrep", "-u", str(result["sandbox_user"])], capture_output=True,
                                  text=True).stdout
        assert leftover == "", f"sandbox processes left behind: {leftover}"


def test_flooding_output_stops_the_notebook_and_keeps_earlier_credit(graded):
    assert points(graded, "floods_output") == (2, CHECKS)
    assert "KB of output" in graded["rows"]["floods_output"]["failures"]


@pytest.mark.parametrize("cheat", ["checks_deleted", "checks_edited", "checks_patched"])
def test_cheats_around_the_checks_score_what_the_answers_are_worth(graded, cheat):
    assert points(graded, cheat) == (0, CHECKS)


def test_stripped_metadata_loses_the_answers_not_the_maximum(graded):
    assert points(graded, "metadata_stripped") == (0, CHECKS)
    assert "answer cell(s) were not found" in feedback(graded, "metadata_stripped")


def test_the_sandbox_sees_and_changes_nothing_outside_its_folder(graded):
    assert points(graded, "intruder") == (CHECKS, CHECKS)
    assert "RuntimeError: SEEN [] WRITTEN []" in feedback(graded, "intruder")
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in graded["before"]}
    assert after == graded["before"], "a submission changed another one"
    assert not graded["home_marker"].exists()
    assert hashlib.sha256(SOLUTION.read_bytes()).hexdigest() == graded["solution_hash"]
    assert "vandalised" not in (graded["root"] / "gradebook.csv").read_text()


def test_no_feedback_holds_hidden_test_text(graded):
    solution = nbformat.read(SOLUTION, as_version=4)
    blocks = [c.source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0].strip()
              for c in solution.cells if HIDDEN_BEGIN in c.source]
    lines = [line.strip() for block in blocks for line in block.splitlines() if len(line.strip()) > 12]
    assert lines, "lab 01 has hidden tests"
    for path in (graded["root"] / f"feedback-{LAB}").glob("*.md"):
        text = path.read_text()
        assert HIDDEN_BEGIN not in text and not any(line in text for line in lines), path.name
