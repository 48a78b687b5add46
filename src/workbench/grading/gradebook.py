"""Per-participant results, the class gradebook (CSV) and the feedback a participant reads.

Each graded submission is first saved as its own JSON result (written atomically), so re-grading
one participant, or a SLURM array task grading a slice of the class, replaces only those results;
the gradebook is always rebuilt from all of them and written atomically (a temporary file renamed
over the old one), so a grading run that is stopped never leaves a half-written gradebook.
Feedback shows each check's points and message; a hidden test that failed is named as such and
never shown, and nothing the notebook printed is included.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class CheckResult:
    grade_id: str
    points: int  # earned
    max_points: int
    message: str = ""  # what the participant sees ("" when passed)


@dataclass
class Result:
    participant: str
    lab: str
    checks: list[CheckResult] = field(default_factory=list)
    failure: str = ""  # why the notebook stopped early (timeout, died, ...), or ""
    missing_answers: list[str] = field(default_factory=list)
    written_answers: list[str] = field(default_factory=list)  # markdown: graded by hand
    errors: list[str] = field(default_factory=list)  # cells that raised (the notebook went on)
    seconds: float = 0.0
    sandbox_user: int | None = None  # the uid the submission ran as (root graders only)

    @property
    def total(self) -> int:
        return sum(check.points for check in self.checks)

    @property
    def max_points(self) -> int:
        return sum(check.max_points for check in self.checks)

    def summary(self) -> str:
        """One line for the gradebook: why points were lost."""
        parts = [self.failure] if self.failure else []
        if self.missing_answers:
            parts.append(f"{len(self.missing_answers)} answer cell(s) not found")
        failed = [c for c in self.checks if c.points < c.max_points]
        if failed:
            parts.append("failed: " + ", ".join(c.grade_id for c in failed))
        return "; ".join(parts)

    @classmethod
    def from_json(cls, text: str) -> Result:
        raw = json.loads(text)
        raw["checks"] = [CheckResult(**check) for check in raw["checks"]]
        return cls(**raw)


def write_atomically(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(result: Result, results: Path) -> Path:
    path = Path(results) / f"{result.participant}.json"
    write_atomically(path, json.dumps(asdict(result), indent=1))
    return path


def load_all(results: Path) -> list[Result]:
    return [Result.from_json(p.read_text()) for p in sorted(Path(results).glob("*.json"))]


def write_gradebook(results: list[Result], path: Path, check_ids: list[str]) -> None:
    """``participant, lab, <one column per check>, total, max, failures`` — the instructor's order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["participant", "lab", *check_ids, "total", "max", "failures"])
    for result in sorted(results, key=lambda r: r.participant):
        earned = {check.grade_id: check.points for check in result.checks}
        writer.writerow([result.participant, result.lab, *(earned.get(i, 0) for i in check_ids),
                         result.total, result.max_points, result.summary()])
    write_atomically(path, buffer.getvalue())


def feedback(result: Result) -> str:
    lines = [f"# {result.lab}: {result.participant}", "",
             f"**{result.total} / {result.max_points} points**", ""]
    if result.failure:
        lines += [f"The notebook stopped early: {result.failure}. Checks after that point could not "
                  "run and score 0.", ""]
    if result.missing_answers:
        lines += [f"{len(result.missing_answers)} answer cell(s) were not found in your notebook (deleted, "
                  "or their cell metadata was removed): " + ", ".join(result.missing_answers) +
                  ". Start from a fresh copy of the lab and paste your answers into its answer cells.", ""]
    if result.errors:
        lines += ["Cells that raised an error (the notebook went on after each):", "",
                  *(f"- {error}" for error in result.errors), ""]
    lines += ["| check | points | feedback |", "|---|---|---|"]
    for check in result.checks:
        message = check.message.replace("|", "\\|").replace("\n", " ") if check.points < check.max_points \
            else "passed"
        lines.append(f"| {check.grade_id} | {check.points} / {check.max_points} | {message} |")
    if result.written_answers:
        lines += ["", f"{len(result.written_answers)} written answer(s) will be read and graded by the "
                  "instructor."]
    return "\n".join(lines) + "\n"
