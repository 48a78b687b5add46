"""Participant notebooks from solutions, the way nbgrader's ``generate_assignment`` makes them.

Instructors edit ``solutions/`` only: it is the single source of the exercises, the checks, their
points and the hidden tests. ``generate`` turns each solution notebook into the participant version,
so the notebooks stay nbgrader-compatible:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the same indentation;
* markdown between ``=== BEGIN SOLUTION ===`` / ``=== END SOLUTION ===`` becomes ``YOUR ANSWER HERE``;
* lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` in a check cell are removed
  (nbgrader's markers): they exist only in ``solutions/`` and run only when grading;
* outputs and execution counts are stripped;
* cells get nbgrader metadata: solution cells are editable answers, cells tagged ``check`` are
  locked, graded tests worth ``points`` (default 1), and a written answer (markdown solution) is a
  manually graded answer worth its ``points`` (default 1), so nbgrader accepts every lab as it is.

``instructor_version`` is the same notebook with solutions and hidden tests kept: the grader takes
the checks from it, never from a submission.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
TEXT_BEGIN, TEXT_END = "=== BEGIN SOLUTION ===", "=== END SOLUTION ==="
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = ("YOUR ANSWER HERE",)
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CHECK_TAG = "check"
NBGRADER_SCHEMA = 3


class MarkerError(ValueError):
    """A solution notebook whose markers do not pair up."""


def strip_solution(source: str, begin: str, end: str, stub: tuple[str, ...], where: str) -> tuple[str, bool]:
    """Replace every marked region in ``source`` with ``stub``; return the text and whether any."""
    lines, out, inside, found = source.split("\n"), [], False, False
    for number, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == begin:
            if inside:
                raise MarkerError(f"{where}, line {number}: {begin!r} inside another solution block; "
                                  f"close the first with {end!r}.")
            inside, found = True, True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + part for part in stub)
        elif marker == end:
            if not inside:
                raise MarkerError(f"{where}, line {number}: {end!r} without a matching {begin!r}.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {begin!r} is never closed; add {end!r} after the solution.")
    return "\n".join(out), found


def _grade_id(path: Path, index: int, cell) -> str:
    digest = hashlib.sha1(f"{path.stem}:{index}:{cell.cell_type}".encode()).hexdigest()[:8]
    return f"{path.stem}-cell{index:02d}-{digest}"


def is_check(cell) -> bool:
    return CHECK_TAG in cell.metadata.get("tags", [])


def _marked(notebook: nbformat.NotebookNode, path: Path, strip: bool) -> nbformat.NotebookNode:
    """Both versions: nbgrader metadata on every answer and check; ``strip`` removes solutions."""
    notebook = nbformat.from_dict(notebook)
    for index, cell in enumerate(notebook.cells):
        where = f"{path.name}, cell {index}"
        if cell.cell_type == "code":
            stripped, is_solution = strip_solution(cell.source, CODE_BEGIN, CODE_END, CODE_STUB, where)
            _, has_hidden = strip_solution(cell.source, HIDDEN_BEGIN, HIDDEN_END, (), where)
            if has_hidden and not is_check(cell):
                raise MarkerError(f"{where}: hidden tests belong in a cell tagged {CHECK_TAG!r}; "
                                  "tag it, or move the tests into the lab's check cell.")
            if strip:
                cell.source = strip_solution(stripped, HIDDEN_BEGIN, HIDDEN_END, (), where)[0].rstrip("\n")
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            stripped, is_solution = strip_solution(cell.source, TEXT_BEGIN, TEXT_END, TEXT_STUB, where)
            if strip:
                cell.source = stripped
        else:
            is_solution = False
        check = is_check(cell)
        written_answer = is_solution and cell.cell_type == "markdown"
        if is_solution or check:
            cell.metadata["nbgrader"] = {
                "grade": check or written_answer, "grade_id": _grade_id(path, index, cell),
                "locked": check, "schema_version": NBGRADER_SCHEMA, "solution": is_solution, "task": False,
                **({"points": int(cell.metadata.get("points", 1))} if check or written_answer else {}),
            }
        cell.metadata.pop("execution", None)
    return notebook


def participant_version(solution: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The participant notebook for one solution notebook (a new object; input untouched)."""
    return _marked(solution, path, strip=True)


def instructor_version(solution: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The solution with the participant version's metadata (grade ids, points): what grading reads."""
    return _marked(solution, path, strip=False)


def strip_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def generate(solutions: Path, notebooks: Path, check_only: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) every participant notebook; return stale paths."""
    stale = []
    sources = sorted(Path(solutions).glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no solution notebooks in {solutions}; instructors keep them there.")
    Path(notebooks).mkdir(parents=True, exist_ok=True)
    for source in sources:
        text = render(participant_version(nbformat.read(source, as_version=4), source))
        target = Path(notebooks) / source.name
        if not target.is_file() or target.read_text() != text:
            stale.append(target)
            if not check_only:
                target.write_text(text)
    return stale
