"""Grading a class: each submission in its own sandbox, checks run by the referee, one gradebook.

For one submission (:func:`grade_submission`):

1. its answer cells are placed into the instructor's notebook (:mod:`~workbench.grading.assemble`);
2. a copy of the submitted notebook, and nothing else, goes into a fresh folder, and the notebook
   runs there cell by cell in a sandboxed kernel (:mod:`~workbench.grading.sandbox`,
   :mod:`~workbench.grading.kernel`) where every check cell is replaced by a hand-over of the
   values it reads (:mod:`~workbench.grading.export`);
3. when the notebook ends (or times out, dies or floods its output), the referee runs the
   instructor's checks on what was handed over, visible code first, hidden tests after.

A submission's failure is its own: the run goes on with the others, and every participant gets a
row. Checks the notebook reached before it stopped keep their credit.
"""

from __future__ import annotations

import dataclasses
import json
import select
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workbench.errors import WorkbenchError
from workbench.grading import gradebook
from workbench.grading.assemble import Assembled, Check, assemble
from workbench.grading.gradebook import CheckResult, Result
from workbench.grading.kernel import Kernel
from workbench.grading.release import instructor_version, participant_version
from workbench.grading.sandbox import Limits, Sandbox


class GradingError(WorkbenchError):
    """Grading cannot start: a lab, a folder or an option is wrong."""


@dataclass
class Lab:
    """The instructor's two versions of one lab."""

    name: str
    instructor: nbformat.NotebookNode
    participant: nbformat.NotebookNode

    @classmethod
    def find(cls, solutions: Path, lab: str) -> Lab:
        found = sorted(Path(solutions).glob(f"{lab}*.ipynb"))
        if len(found) != 1:
            names = ", ".join(p.stem for p in sorted(Path(solutions).glob("*.ipynb"))) or "none"
            raise GradingError(f"--lab {lab!r} matches {len(found)} notebooks in {solutions} "
                               f"(there: {names}); give its number (e.g. 01) or full name.")
        path = found[0]
        solution = nbformat.read(path, as_version=4)
        return cls(path.stem, instructor_version(solution, path), participant_version(solution, path))

    def ungraded(self, participant: str) -> Result:
        """The row of a participant with no saved result (their grading task did not finish)."""
        checks = assemble(self.instructor, self.participant, nbformat.v4.new_notebook()).checks
        return Result(participant, self.name, [CheckResult(c.grade_id, 0, c.points, "not graded")
                                               for c in checks],
                      failure="not graded: no saved result (its grading task did not finish; re-grade "
                              f"with --only {participant})")

    @property
    def check_ids(self) -> list[str]:
        return [c.metadata["nbgrader"]["grade_id"] for c in self.instructor.cells
                if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]


def find_submissions(folder: Path, lab: str) -> dict[str, Path | None]:
    """``<folder>/<participant>/<lab>.ipynb`` (or nbgrader's ``<participant>/<lab>/<lab>.ipynb``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"no submissions folder {folder}: expected "
                           f"<folder>/<participant>/<notebook>.ipynb, e.g. submissions/alice/{lab}.ipynb.")
    found = {}
    for participant in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        candidates = [participant / f"{lab}.ipynb", participant / lab / f"{lab}.ipynb"]
        found[participant.name] = next((c for c in candidates if c.is_file()), None)
    if not found:
        raise GradingError(f"no submissions in {folder}: expected <folder>/<participant>/<notebook>.ipynb, "
                           f"e.g. submissions/alice/{lab}.ipynb.")
    return found


def _export_cell(folder: Path, number: int, check: Check) -> str:
    target = str(folder / "exports" / str(number))
    return ("import workbench.grading.export as _workbench_export\n"
            f"_workbench_export.snapshot({target!r}, {check.names!r}, globals())")


def run_notebook(assembled: Assembled, sandbox: Sandbox, limits: Limits, env: dict) -> tuple[list, str, list]:
    """Execute the submission: the (number, check) pairs reached, why it stopped early, cell errors."""
    reached, failure, errors = [], "", []
    deadline = time.monotonic() + limits.notebook_seconds
    try:
        with Kernel(sandbox, env) as kernel:
            for position, item in enumerate(assembled.cells):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failure = f"the notebook ran past its {limits.notebook_seconds} s limit"
                    break
                is_check = isinstance(item, Check)
                code = _export_cell(sandbox.folder, len(reached), item) if is_check else item
                outcome = kernel.execute(code, min(limits.cell_seconds, remaining), limits.output_kb * 1024)
                if outcome.status == "ok" and is_check:
                    reached.append((len(reached), item))
                if outcome.status == "error" and not is_check:
                    errors.append(f"code cell {position + 1}: {outcome.detail}"[:300])
                if outcome.status in ("timeout", "died", "flood"):
                    where = f"check cell {item.grade_id}" if is_check else f"code cell {position + 1}"
                    if outcome.status == "timeout" and remaining < limits.cell_seconds:
                        failure = f"the notebook ran past its {limits.notebook_seconds} s limit in {where}"
                    else:
                        failure = f"{where} {outcome.detail}"
                    break
    except RuntimeError as error:  # the kernel never started
        failure = str(error)
    return reached, failure, errors


def referee(sandbox: Sandbox, reached: list, limits: Limits, env: dict) -> dict[str, tuple[bool, str]]:
    """Run the instructor's checks on the hand-overs; ``{grade_id: (passed, message)}``."""
    if not reached:
        return {}
    argv = [sys.executable, "-m", "workbench.grading.referee"]
    try:
        sandbox.end_leftovers()
    except RuntimeError as error:
        return {check.grade_id: (False, f"the checks could not start: {error}") for _, check in reached}
    process = subprocess.Popen(sandbox.command(argv, writable=False), env=sandbox.environment(env),
                               cwd=sandbox.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    deadline = time.monotonic() + limits.referee_seconds
    verdicts = {}

    def ask(hidden: bool) -> dict | None:
        checks = [{"id": check.grade_id, "export": str(sandbox.folder / "exports" / str(number)),
                   "source": check.full if hidden else check.visible}
                  for number, check in reached if check.has_hidden or not hidden]
        if not checks:
            return {"results": []}
        process.stdin.write(json.dumps({"checks": checks, "hidden": hidden}) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = process.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    try:
        visible = ask(hidden=False)
        hidden = ask(hidden=True) if visible is not None else None
    except (BrokenPipeError, json.JSONDecodeError, ValueError):
        visible = hidden = None
    finally:
        process.kill()
        process.wait()
    if visible is None:
        return {check.grade_id: (False, "the checks did not finish (the referee stopped or ran past "
                                        f"its {limits.referee_seconds} s limit)") for _, check in reached}
    for item in visible["results"]:
        verdicts[item["id"]] = (item["passed"], item.get("message", ""))
    hidden_results = {item["id"]: item["passed"] for item in (hidden or {"results": []})["results"]}
    for _, check in reached:
        passed, message = verdicts.get(check.grade_id, (False, "no verdict"))
        if passed and check.has_hidden and not hidden_results.get(check.grade_id, False):
            verdicts[check.grade_id] = (False, "a hidden test failed")
    return verdicts


def grade_submission(lab: Lab, participant: str, path: Path | None, workdir: Path, limits: Limits,
                     data: Path | None, quick: bool = True, worker: int = 0, isolate: bool = True) -> Result:
    started = time.monotonic()
    result = Result(participant, lab.name)
    try:
        submission = nbformat.read(path, as_version=4) if path is not None else None
    except Exception as error:  # not a notebook at all
        submission = None
        result.failure = f"the submission is not a readable notebook ({type(error).__name__})"
    if path is None:
        result.failure = f"no {lab.name}.ipynb submitted"
    assembled = assemble(lab.instructor, lab.participant,
                         submission if submission is not None else nbformat.v4.new_notebook())
    result.missing_answers, result.written_answers = assembled.missing_answers, assembled.written_answers
    reached, verdicts = [], {}
    if submission is not None:
        folder = Path(workdir) / participant
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / f"{lab.name}.ipynb")
        sandbox = Sandbox(folder, limits, data=data, worker=worker, isolate=isolate)
        result.sandbox_user = sandbox.uid
        env = {"WORKBENCH_QUICK": "1" if quick else "0", "WORKBENCH_LOGS": str(folder / "logs")}
        reached, result.failure, result.errors = run_notebook(assembled, sandbox, limits, env)
        verdicts = referee(dataclasses.replace(sandbox, referee=True), reached, limits, env)
    for check in assembled.checks:
        passed, message = verdicts.get(check.grade_id, (False, ""))
        if not message and not passed:
            message = "not reached: the notebook stopped before this check" if result.failure else "not run"
        result.checks.append(CheckResult(check.grade_id, check.points if passed else 0, check.points,
                                         "" if passed else message))
    result.seconds = round(time.monotonic() - started, 1)
    return result


class Progress:
    """``[  3/30]  12 s  alice  4/4`` lines on stderr, with an estimate of the time left."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.lock = threading.Lock()

    def update(self, result: Result) -> None:
        with self.lock:
            self.done += 1
            elapsed = time.monotonic() - self.started
            left = elapsed / self.done * (self.total - self.done)
            bar = "#" * (20 * self.done // self.total)
            print(f"[{bar:<20}] {self.done}/{self.total}  {result.participant}: {result.total}/"
                  f"{result.max_points}{'  (' + result.failure + ')' if result.failure else ''}"
                  f"  ~{left:.0f} s left", file=sys.stderr, flush=True)


def grade_class(submissions: Path, lab_name: str, *, solutions: Path, gradebook_path: Path,
                results: Path | None = None, feedback: Path | None = None, workdir: Path | None = None,
                limits: Limits | None = None, data: Path | None = None, quick: bool = True, workers: int = 1,
                only: list[str] | None = None, shard: tuple[int, int] | None = None, merge_only: bool = False,
                isolate: bool = True) -> list[Result]:
    """Grade (some of) a class and rebuild the gradebook from every saved result."""
    limits = limits or Limits()
    lab = Lab.find(solutions, lab_name)
    found = find_submissions(submissions, lab.name)
    results = Path(results or Path(gradebook_path).with_suffix("").parent / f"results-{lab.name}")
    feedback = Path(feedback or Path(gradebook_path).parent / f"feedback-{lab.name}")
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            raise GradingError(f"--only {', '.join(unknown)}: no such participant folder in {submissions} "
                               f"(there: {', '.join(found)}).")
        todo = {name: found[name] for name in only}
    else:
        todo = dict(found)
    if shard is not None:
        index, count = shard
        todo = {name: p for i, (name, p) in enumerate(sorted(todo.items())) if i % count == index}
    if merge_only:
        todo = {}
    if isolate and todo:
        from workbench.grading.sandbox import bwrap_path

        bwrap_path()  # fail before grading anyone when the sandbox cannot exist
    own_workdir = workdir is None
    workdir = Path(workdir) if workdir else Path(__import__("tempfile").mkdtemp(prefix="workbench-grade-"))
    progress = Progress(len(todo))
    slots = list(range(max(1, workers)))
    slot_lock = threading.Lock()

    def one(name: str, path: Path | None) -> Result:
        with slot_lock:
            worker = slots.pop()
        try:
            result = grade_submission(lab, name, path, workdir, limits, data, quick, worker, isolate)
        finally:
            with slot_lock:
                slots.append(worker)
            shutil.rmtree(workdir / name, ignore_errors=True)
        gradebook.save(result, results)
        gradebook.write_atomically(feedback / f"{name}.md", gradebook.feedback(result))
        progress.update(result)
        return result

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for future in as_completed([pool.submit(one, name, path) for name, path in todo.items()]):
                future.result()
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    saved = {r.participant: r for r in gradebook.load_all(results) if r.participant in found}
    everyone = [saved.get(name) or lab.ungraded(name) for name in found]
    if shard is None:
        gradebook.write_gradebook(everyone, gradebook_path, lab.check_ids)
    return everyone
