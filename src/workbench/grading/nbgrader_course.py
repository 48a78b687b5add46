"""The labs as a real nbgrader course, for sites that already grade with nbgrader.

``write_course(solutions, course)`` lays out a course directory that nbgrader's own commands take as
it is::

    course/
      nbgrader_config.py           course id, per-cell timeout, kernel, markers, quick mode
      source/<lab>/<lab>.ipynb     the instructor version of solutions/<lab>.ipynb

and then, in ``course/``, the usual nbgrader cycle works unchanged::

    nbgrader generate_assignment 01_mnist_dense     # release/ = our notebooks/01_mnist_dense.ipynb
    nbgrader collect ... / or copy into submitted/<student>/01_mnist_dense/01_mnist_dense.ipynb
    nbgrader autograde 01_mnist_dense               # executes, scores into gradebook.db

Why the source notebook is our ``instructor_version`` and not ``solutions/`` as it is: nbgrader
needs its cell metadata (``grade_id``, ``points``, ``solution``, ``grade``, ``locked``), which
``solutions/`` leaves to ``release.py`` so that instructors never edit JSON metadata. With it, the
notebook nbgrader releases is, cell for cell, the one ``workbench notebooks generate`` writes
(``tests/test_nbgrader.py`` holds the two together), so participants get the same notebook
whichever tool a site uses.

The markers need no conversion. nbgrader (0.9.6, ``preprocessors/clearsolutions.py`` and
``clearhiddentests.py``) treats every line that *contains* ``BEGIN SOLUTION`` / ``END SOLUTION`` /
``BEGIN HIDDEN TESTS`` / ``END HIDDEN TESTS`` as a marker, in code and markdown cells alike, and
replaces a solution region by its ``code_stub`` / ``text_stub`` at the marker's indentation: our
``### BEGIN SOLUTION`` (code) and ``=== BEGIN SOLUTION ===`` (markdown) both contain the text, and
our stubs are nbgrader's defaults. The config still spells delimiters and stubs out, taken from
``release.py``, so a site-wide ``nbgrader_config.py`` with other markers cannot change what
participants get. Two things differ, and ``write_course`` settles both in the source notebook:

* strictness: ``release.py`` only accepts a line that *is* a marker, nbgrader any line that
  mentions one; lines the two would read differently are refused (``nbgrader_misreadings``);
* trailing empty lines: ``release.py`` strips them from a participant's code cell, nbgrader keeps
  the blank line an instructor leaves before ``### BEGIN HIDDEN TESTS``; such lines are moved into
  the hidden region (``without_trailing_blank_lines``), which changes nothing that runs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from workbench import jupyter_kernel
from workbench.grading.release import (
    CODE_BEGIN,
    CODE_END,
    CODE_STUB,
    HIDDEN_BEGIN,
    HIDDEN_END,
    TEXT_BEGIN,
    TEXT_END,
    TEXT_STUB,
    instructor_version,
    render,
)

COURSE_ID = "keras-workbench"
CONFIG_NAME = "nbgrader_config.py"
# nbgrader's default is 30 s per cell (nbgrader/preprocessors/execute.py, ``Execute.timeout``):
# a training cell of a full (not quick) run takes minutes on CPU. Same default as
# `workbench grade --timeout`, so both graders give a submission the same time.
DEFAULT_TIMEOUT = 600
# The kernel the labs' kernelspec names: a generic "python3" is whatever environment nbgrader runs in,
# on a hub one without the workbench. A site's own kernel: write_course(..., kernel_name=...).
KERNEL_NAME = jupyter_kernel.KERNEL_NAME
IGNORED_STDERR = r"[\s\S]"  # any stderr text at all, see config_text
CONFIG_HEADER = "# Written by workbench.grading.nbgrader_course.write_course"

# The substrings nbgrader's preprocessors look for in every line of every cell (their defaults in
# nbgrader 0.9.6; the config below pins the two marker pairs we use). ``AUTOTEST`` makes
# InstantiateTests expand a test template from autotests.yml, which the labs do not have.
NBGRADER_BEGIN_SOLUTION, NBGRADER_END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
NBGRADER_BEGIN_HIDDEN, NBGRADER_END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
NBGRADER_WORDS = (NBGRADER_BEGIN_SOLUTION, NBGRADER_END_SOLUTION, NBGRADER_BEGIN_HIDDEN,
                  NBGRADER_END_HIDDEN, "BEGIN MARK SCHEME", "END MARK SCHEME", "AUTOTEST")
OUR_MARKERS = {"code": {CODE_BEGIN, CODE_END, HIDDEN_BEGIN, HIDDEN_END}, "markdown": {TEXT_BEGIN, TEXT_END}}


class CourseError(ValueError):
    """A course that cannot be written as asked; the message says what to change."""


def available_labs(solutions: Path) -> list[str]:
    """The lab names (file stems) in ``solutions``, sorted."""
    labs = sorted(path.stem for path in Path(solutions).glob("*.ipynb"))
    if not labs:
        raise FileNotFoundError(f"no solution notebooks (*.ipynb) in {solutions}; instructors keep the "
                                "complete labs there (solutions/NN_name.ipynb).")
    return labs


def resolve_labs(solutions: Path, labs: list[str] | None) -> list[str]:
    """``labs`` as full names: each a lab name (``01_mnist_dense``) or its number (``01``, as in
    ``workbench grade --lab 01``); ``None`` means all of them."""
    known = available_labs(solutions)
    if labs is None:
        return known
    resolved = []
    for wanted in labs:
        matches = [lab for lab in known if wanted in (lab, lab.split("_", 1)[0])]
        if len(matches) != 1:
            raise CourseError(f"unknown lab {wanted!r} in {solutions}; the labs are: {', '.join(known)} "
                              "(give a name or its number, e.g. '01').")
        resolved.append(matches[0])
    return list(dict.fromkeys(resolved))


def without_trailing_blank_lines(source: str) -> str:
    """A code cell whose nbgrader release has no empty last lines, as ``release.py``'s has not.

    ``release.py`` ends a participant's code cell with ``.rstrip("\\n")``; nbgrader keeps the lines
    around a removed region as they are. A check cell written as ``checks.x(y)``, a blank line,
    then ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` would be released by nbgrader as
    ``"checks.x(y)\\n"``. So empty lines that nbgrader would leave at the end of the released cell
    move into the hidden-test region that follows them, or, at the very end of the cell, go. Empty
    lines mean nothing to Python: the instructor's code runs the same.
    """
    lines = source.split("\n")
    kept, hidden, solution = [], False, False  # indices of the lines nbgrader releases
    for index, line in enumerate(lines):
        if NBGRADER_BEGIN_HIDDEN in line:
            hidden = True
        elif NBGRADER_END_HIDDEN in line:
            hidden = False
        elif NBGRADER_BEGIN_SOLUTION in line:
            solution = True
            kept.append(index)  # becomes the stub, never empty
        elif NBGRADER_END_SOLUTION in line:
            solution = False
        elif not (hidden or solution):
            kept.append(index)
    moving = set()
    while kept and lines[kept[-1]] == "":
        moving.add(kept.pop())
    if not moving:
        return source
    out, waiting = [], 0
    for index, line in enumerate(lines):
        if index in moving:
            waiting += 1
            continue
        out.append(line)
        if NBGRADER_BEGIN_HIDDEN in line:
            out.extend([""] * waiting)
            waiting = 0
    return "\n".join(out)  # lines still waiting were the cell's last: dropped


def nbgrader_misreadings(notebook: nbformat.NotebookNode, name: str) -> list[str]:
    """Lines nbgrader would read otherwise than ``release.py`` does, one description each.

    nbgrader takes any line containing one of ``NBGRADER_WORDS`` as a marker; ``release.py`` only
    a line that is exactly one of our markers for that cell type. A sentence in a markdown cell
    that mentions "### BEGIN SOLUTION", or ``=== BEGIN SOLUTION ===`` in a code cell, would be
    kept by ``release.py`` but cut (with what follows it) by nbgrader.
    """
    problems = []
    for index, cell in enumerate(notebook.cells):
        ours = OUR_MARKERS.get(cell.cell_type, set())
        for number, line in enumerate(cell.source.split("\n"), 1):
            words = [word for word in NBGRADER_WORDS if word in line]
            if words and line.strip() not in ours:
                problems.append(f"{name}, cell {index} ({cell.cell_type}), line {number}: {line.strip()!r} "
                                f"contains {words[0]!r}, so nbgrader reads it as a marker and release.py "
                                "does not; reword it, or make it an exact marker of that cell type")
    return problems


def config_text(course_id: str, timeout: int, kernel_name: str, quick: bool) -> str:
    """The course's ``nbgrader_config.py``. Every name in it is checked against nbgrader 0.9.6."""
    code_stub = "\n".join(CODE_STUB)
    text_stub = "\n".join(TEXT_STUB)
    return f'''{CONFIG_HEADER} from solutions/.
# Rewritten by it; edit write_course's arguments instead, or keep your own config (config=False).
import os
import shutil
import sys

c = get_config()  # noqa: F821  (injected by traitlets)

# A new gradebook.db gets its schema version from the `alembic` command, looked up on PATH
# (get_alembic_version in nbgrader/api.py); nbgrader started by its full path from a virtual
# environment that is not activated fails on its first assignment without this.
if shutil.which("alembic") is None:
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# Course directory = this file's directory, also when nbgrader runs elsewhere with
# --NbGrader.config_file=<this file> (it reads ./nbgrader_config.py otherwise).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = {course_id!r}

# Autograde runs every cell of a submission in a fresh kernel. nbgrader's default of 30 s per cell
# (Execute.timeout, nbgrader/preprocessors/execute.py) stops a training cell half way.
c.Execute.timeout = {int(timeout)}
# The kernel the submissions run in; it must import tensorflow, keras and workbench. Register it
# where this nbgrader finds it, from the workbench's environment: `workbench kernel install --sys-prefix`
# (nbgrader installed there too), or `--prefix <nbgrader's environment>`; `workbench doctor` shows it.
c.Execute.kernel_name = {kernel_name!r}

# The kernels inherit this environment. The labs read WORKBENCH_DATA (staged datasets; compute nodes
# have no internet) and WORKBENCH_QUICK ("1": small subsets and 2 epochs). Like `workbench grade`,
# grade in quick mode unless the grader sets WORKBENCH_QUICK=0 (a full run, `workbench grade --full`).
os.environ.setdefault("WORKBENCH_QUICK", {"1" if quick else "0"!r})

# nbgrader scores a check cell 0 if it wrote anything to stderr, even when it passed
# (determine_grade in nbgrader/utils.py). TensorFlow's C++ logging and Python warnings go there;
# our checks report a failure only by raising. Dropping stderr before scoring keeps the verdicts
# those of `workbench grade` (it also leaves stderr out of autograded notebooks and feedback).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = {IGNORED_STDERR!r}

# Note: `nbgrader generate_feedback` shows hidden tests (the check cell as graded, and the failing
# line in its traceback); do not hand out feedback if hidden tests must stay secret.

# The markers and stubs of workbench.grading.release, pinned here so that what nbgrader releases
# is what `workbench notebooks generate` writes, whatever a site-wide config says. nbgrader matches
# each delimiter anywhere in a line: our code "{CODE_BEGIN}" and markdown "{TEXT_BEGIN}"
# both contain "{NBGRADER_BEGIN_SOLUTION}".
c.ClearSolutions.begin_solution_delimeter = {NBGRADER_BEGIN_SOLUTION!r}
c.ClearSolutions.end_solution_delimeter = {NBGRADER_END_SOLUTION!r}
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
c.ClearSolutions.text_stub = {text_stub!r}
c.ClearHiddenTests.begin_test_delimeter = {NBGRADER_BEGIN_HIDDEN!r}
c.ClearHiddenTests.end_test_delimeter = {NBGRADER_END_HIDDEN!r}
'''


def write_course(solutions: Path, course: Path, labs: list[str] | None = None, timeout: int = DEFAULT_TIMEOUT,
                 *, course_id: str = COURSE_ID, kernel_name: str = KERNEL_NAME, quick: bool = True,
                 config: bool = True) -> Path:
    """Write (or refresh) an nbgrader course for ``labs`` (default: all) in ``course``; return it.

    ``source/<lab>/<lab>.ipynb`` is rewritten from ``solutions/`` each time, so rerun this after
    editing a solution, then ``nbgrader generate_assignment <lab> --force``. Other files in the
    course (the gradebook, submissions, a site's own files in ``source/<lab>/``) are left alone.
    ``config=False`` leaves ``nbgrader_config.py`` to the site; an existing one that this function
    did not write is never overwritten.
    """
    solutions, course = Path(solutions), Path(course)
    if int(timeout) <= 0:
        raise CourseError(f"timeout={timeout!r}: give the seconds one cell may run "
                          f"(default {DEFAULT_TIMEOUT}).")
    chosen = resolve_labs(solutions, labs)
    sources, problems = {}, []
    for lab in chosen:
        path = solutions / f"{lab}.ipynb"
        notebook = instructor_version(nbformat.read(path, as_version=4), path)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.source = without_trailing_blank_lines(cell.source)
        problems += nbgrader_misreadings(notebook, path.name)
        sources[lab] = notebook
        for stray in (course / "source" / lab).glob("*.ipynb"):
            if stray.name != f"{lab}.ipynb":  # nbgrader would release every notebook in the folder
                problems.append(f"{stray} is not part of lab {lab} but nbgrader would release it too; "
                                "move it out of the source folder")
    config_path = course / CONFIG_NAME
    if config and config_path.is_file() and not config_path.read_text().startswith(CONFIG_HEADER):
        problems.append(f"{config_path} exists and was not written by workbench; move it away, or pass "
                        "config=False and add to it c.Execute.timeout, c.Execute.kernel_name, "
                        "c.IgnorePattern and the delimiters/stubs that config_text in "
                        "workbench/grading/nbgrader_course.py sets")
    if problems:  # checked before anything is written, so a course is never left half updated
        raise CourseError("cannot write the nbgrader course:\n  " + "\n  ".join(problems))

    course.mkdir(parents=True, exist_ok=True)
    if config:
        config_path.write_text(config_text(course_id, timeout, kernel_name, quick))
    for lab, notebook in sources.items():
        folder = course / "source" / lab
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{lab}.ipynb").write_text(render(notebook))
    return course

