"""A submission's answers, placed into the instructor's notebook.

The instructor's notebook (:func:`~workbench.grading.release.instructor_version` of the solution)
decides what is graded: its check cells, their points and hidden tests, and every cell that is not
an answer. From the submission only the answer cells are taken, matched by their nbgrader
``grade_id``. So a submission that deletes, edits or strips the metadata of a check cell gets the
instructor's check back, and the maximum is always the instructor's. An answer that cannot be
matched (deleted, or its metadata stripped) stays the participant version's stub and is reported.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

import nbformat

from workbench.grading.release import HIDDEN_BEGIN, HIDDEN_END, is_check, strip_solution


@dataclass
class Check:
    """One graded check cell, as the instructor wrote it."""

    index: int  # cell index in the instructor's notebook
    grade_id: str
    points: int
    visible: str  # what the participant's notebook shows
    full: str  # visible code and hidden tests
    names: list[str]  # every name the cell reads: what the kernel must hand over

    @property
    def has_hidden(self) -> bool:
        return self.full != self.visible


@dataclass
class Assembled:
    """What the kernel runs (``cells``, check cells as ``Check``) and what the grader reports."""

    cells: list  # in order: str (code to run) or Check
    checks: list[Check]
    missing_answers: list[str] = field(default_factory=list)  # grade_ids not found
    written_answers: list[str] = field(default_factory=list)  # markdown answers: manual grading

    @property
    def max_points(self) -> int:
        return sum(check.points for check in self.checks)


def free_names(source: str) -> list[str]:
    """Names a cell reads that it did not bind first, builtins excluded (sorted)."""
    tree = ast.parse(source)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store | ast.Del) else read).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    # A name both read and assigned in the cell is read first in our checks (``kernel = model...``
    # then ``kernel.value``) only if it exists before; hand it over when the notebook has it.
    return sorted(name for name in read if not hasattr(builtins, name) and
                  (name not in bound or _read_before_bound(tree, name)))


def _read_before_bound(tree, name: str) -> bool:
    for statement in tree.body:
        reads = any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
                    for n in ast.walk(statement))
        stores = any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                     for n in ast.walk(statement))
        if reads and not stores:
            return True
        if stores:
            return False
    return False


def _answers(submission: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    found = {}
    for cell in submission.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id and grade_id not in found:
            found[grade_id] = cell
    return found


def assemble(instructor: nbformat.NotebookNode, participant: nbformat.NotebookNode,
             submission: nbformat.NotebookNode) -> Assembled:
    """``instructor``/``participant``: the two versions of one lab; ``submission``: a participant's."""
    answers = _answers(submission)
    result = Assembled(cells=[], checks=[])
    for index, (mine, theirs_template) in enumerate(zip(instructor.cells, participant.cells, strict=True)):
        meta = mine.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if meta.get("solution"):
            answer = answers.get(grade_id)
            if answer is None or answer.cell_type != mine.cell_type:
                result.missing_answers.append(grade_id)
                answer = theirs_template
            if mine.cell_type == "markdown":
                result.written_answers.append(grade_id)
            elif mine.cell_type == "code":
                result.cells.append(answer.source)
            continue
        if is_check(mine):
            visible = strip_solution(mine.source, HIDDEN_BEGIN, HIDDEN_END, (), f"cell {index}")[0]
            check = Check(index, grade_id, int(meta.get("points", 1)), visible, mine.source,
                          free_names(mine.source))
            result.checks.append(check)
            result.cells.append(check)
        elif mine.cell_type == "code":
            result.cells.append(mine.source)
    return result
