"""Participant notebooks from solutions, and grading a folder of submissions.

Instructors edit ``solutions/`` only. ``generate`` turns each solution notebook into the
participant version the way nbgrader's ``generate_assignment`` does, so the notebooks stay
nbgrader-compatible:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the same indentation;
* markdown between ``=== BEGIN SOLUTION ===`` / ``=== END SOLUTION ===`` becomes ``YOUR ANSWER HERE``;
* outputs and execution counts are stripped;
* cells get nbgrader metadata: solution cells are editable answers, cells tagged ``check`` are
  locked, graded tests worth ``points`` (default 1).

``grade`` executes every submission in quick mode and counts the checks that pass, into one CSV.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
TEXT_BEGIN, TEXT_END = "=== BEGIN SOLUTION ===", "=== END SOLUTION ==="
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = ("YOUR ANSWER HERE",)
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


def participant_version(solution: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The participant notebook for one solution notebook (a new object; input untouched)."""
    notebook = nbformat.from_dict(solution)
    for index, cell in enumerate(notebook.cells):
        where = f"{path.name}, cell {index}"
        if cell.cell_type == "code":
            cell.source, is_solution = strip_solution(cell.source, CODE_BEGIN, CODE_END, CODE_STUB, where)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source, is_solution = strip_solution(cell.source, TEXT_BEGIN, TEXT_END, TEXT_STUB, where)
        else:
            is_solution = False
        is_check = CHECK_TAG in cell.metadata.get("tags", [])
        if is_solution or is_check:
            cell.metadata["nbgrader"] = {
                "grade": is_check, "grade_id": _grade_id(path, index, cell), "locked": is_check,
                "schema_version": NBGRADER_SCHEMA, "solution": is_solution, "task": False,
                **({"points": int(cell.metadata.get("points", 1))} if is_check else {}),
            }
        cell.metadata.pop("execution", None)
    return notebook


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


# --------------------------------------------------------------------------- grading


@dataclass
class Grade:
    student: str
    notebook: str
    points: int
    max_points: int
    failed: str  # the first line of each failing check, "; "-joined


def _check_result(cell) -> tuple[bool, str]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            message = f"{output.get('ename')}: {output.get('evalue', '')}".strip()
            return False, re.sub(r"\s+", " ", message)[:200]
    return True, ""


def grade_notebook(path: Path, timeout: int = 600) -> tuple[int, int, list[str]]:
    """Execute one submission (errors allowed) and score its graded check cells."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    points = max_points = 0
    failures = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        worth = int(meta.get("points", 1))
        max_points += worth
        ok, message = _check_result(cell)
        if ok:
            points += worth
        else:
            failures.append(f"{meta.get('grade_id', '?')}: {message}")
    return points, max_points, failures


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``<folder>/<student>/<notebook>.ipynb`` -> (student, path), checkpoints skipped."""
    found = []
    for path in sorted(Path(folder).glob("*/*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            found.append((path.parent.name, path))
    return found


def grade(folder: Path, gradebook: Path, timeout: int = 600) -> list[Grade]:
    """Grade every submission under ``folder`` and write ``gradebook`` (CSV)."""
    submissions = find_submissions(folder)
    if not submissions:
        raise FileNotFoundError(
            f"no submissions in {folder}: expected <folder>/<student>/<notebook>.ipynb, "
            "e.g. submissions/alice/02_mnist_cnn.ipynb.")
    grades = []
    for student, path in submissions:
        points, max_points, failures = grade_notebook(path, timeout)
        grades.append(Grade(student, path.name, points, max_points, "; ".join(failures)))
        print(f"{student:20s} {path.name:30s} {points}/{max_points}", flush=True)
    with open(gradebook, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "notebook", "points", "max_points", "failed_checks"])
        for g in grades:
            writer.writerow([g.student, g.notebook, g.points, g.max_points, g.failed])
    return grades
