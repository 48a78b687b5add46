"""The referee: runs the instructor's checks on what a graded notebook handed over.

Started by the grader in the submission's sandbox (``python -m workbench.grading.referee``), after
the participant's kernel has finished or died. It is a fresh process: the participant's cells never
ran in it, so its ``workbench.checks``, its builtins and its verdicts are the instructor's. Values
come from :mod:`workbench.grading.export`; functions and classes the participant defined are rebuilt
from their source, since calling them is what those checks are for.

It talks JSON lines on stdin/stdout, in two phases:

1. ``{"checks": [{"id", "export", "source"}, ...]}``: the visible check code of each check cell;
   the reply carries pass/fail and the message a participant sees.
2. the same for the hidden tests, sent only once phase 1's reply is in, so no participant code ran
   in this process while it held hidden test text before phase 1's messages were written; the
   reply carries pass/fail only, and the grader shows "a hidden test failed", never its text.

Anything printed (by a check's tick line or by participant code) goes to stderr; only the replies
use the real stdout.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from workbench.grading.export import Loader, Unsupported


def _message(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, NameError):
        text += " (the notebook had not defined it when this check ran)"
    if isinstance(error, AssertionError):
        return text or "an assertion in the check failed"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run_check(check: dict) -> tuple[bool, str]:
    """Rebuild one check's values in a fresh namespace and run its code there."""
    try:
        loader = Loader(Path(check["export"]))
        namespace = loader.load()
    except Exception as error:  # a value that cannot be rebuilt fails this check only
        return False, "the grader could not rebuild this check's values: " + _message(error)[:300]
    for value in loader.manifest["values"]:
        if isinstance(namespace.get(value), Unsupported):
            return False, namespace[value].message()
        if type(namespace.get(value)).__name__ == "_Missing":
            del namespace[value]
    try:
        exec(compile(check["source"], f"<check {check['id']}>", "exec"), namespace)
    except BaseException as error:  # SystemExit and KeyboardInterrupt from participant code too
        return False, _message(error)[:500]
    return True, ""


def _prepare_devices(checks: list[dict]) -> None:
    """Split the CPU as the notebook did, before anything touches TensorFlow's devices."""
    needed = 0
    for check in checks:
        try:
            needed = max(needed, Loader(Path(check["export"])).strategy_devices())
        except (OSError, ValueError):
            continue
    if needed > 1:
        from workbench import strategies

        strategies.split_cpu(needed)


def main() -> int:
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # prints (ticks, participant code) go to stderr
    sys.stdout = sys.stderr
    prepared = False
    for line in sys.stdin:
        request = json.loads(line)
        if not prepared:
            _prepare_devices(request["checks"])
            prepared = True
        results = []
        for check in request["checks"]:
            try:
                passed, message = run_check(check)
            except BaseException:  # never let one check stop the others
                passed, message = False, traceback.format_exc(limit=1).strip().splitlines()[-1]
            results.append({"id": check["id"], "passed": passed,
                            **({} if request.get("hidden") else {"message": message})})
        replies.write(json.dumps({"results": results}) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
