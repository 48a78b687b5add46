"""The report that ends every test run: which capabilities were NOT tested, and why.

Outside CI a missing SLURM, Horovod build, browser or staged data makes whole test modules skip, and
`-m` expressions deselect others; the run stays green either way. These hooks (re-exported by
conftest.py, used on their own by test_capability_report.py) end the run with one line per reason,
named after the capability the test module covers, so nobody mistakes a green run for a full one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

import pytest

TITLE = "Capabilities NOT tested in this run"
ALL_TESTED = "Every capability was tested in this run (no test skipped or deselected)"

# Test module -> what a skip there means was not tested; other modules are named as they are.
CAPABILITIES = {
    "test_slurm": "SLURM job scripts",
    "test_distributed": "data parallelism (multi-worker, Horovod)",
    "test_notebooks": "notebooks executed in a kernel",
    "test_tensorboard": "TensorBoard server and browser",
    "test_labs": "batch labs on real data",
}

_deselected = pytest.StashKey[list[str]]()


def capability(nodeid: str) -> str:
    """`tests/test_slurm.py::test_x[a]` -> "SLURM job scripts"; an unmapped module -> its name."""
    module = PurePosixPath(nodeid.split("::", 1)[0]).stem
    return CAPABILITIES.get(module, module)


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    # A skip's longrepr is (file, line, "Skipped: <reason>"), the file being where skip() was called
    # (often a fixture in conftest.py), which is why the capability comes from the nodeid instead.
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ").strip()


def not_tested(skipped: Iterable, deselected: Iterable[str], markexpr: str = "",
               keywordexpr: str = "") -> list[str]:
    """One line per (capability, reason), most tests first: "SLURM job scripts (12 tests): <reason>"."""
    groups: Counter[tuple[str, str, str]] = Counter()  # (capability, reason, test|module)
    for report in skipped:
        # A module skipped while collecting counts once, as the module rather than as its tests.
        what = "module" if getattr(report, "when", None) == "collect" else "test"
        groups[(capability(report.nodeid), skip_reason(report), what)] += 1
    why = " and ".join(f"{flag} {expr!r}" for flag, expr in (("-m", markexpr), ("-k", keywordexpr)) if expr)
    for nodeid in deselected:
        groups[(capability(nodeid), f"deselected by {why}" if why else "deselected", "test")] += 1
    lines = []
    for (name, reason, what), count in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{name} ({count} {what}{'' if count == 1 else 's'}): {reason}")
    return lines


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    # Called by `-m`, `-k` and `--deselect` alike; the stash keeps the count per run (pytester runs
    # several in one process).
    if items:
        items[0].config.stash.setdefault(_deselected, []).extend(item.nodeid for item in items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under pytest-xdist every worker collects (and deselects) the whole suite while the controller
    # collects nothing and writes the summary: a worker hands its list over in `workeroutput`.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["deselected"] = session.config.stash.get(_deselected, [])


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent, and harmless, without pytest-xdist
def pytest_testnodedown(node, error) -> None:
    known = node.config.stash.setdefault(_deselected, [])
    # Every worker deselects the same tests; count each once.
    known.extend(nodeid for nodeid in node.workeroutput.get("deselected", []) if nodeid not in known)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, config: pytest.Config):
    # Outermost wrapper, so the list comes after pytest's own "short test summary info" and right
    # before the final "N passed, M skipped" line.
    result = yield
    if config.option.collectonly:  # nothing was run, so nothing can be said to be tested
        return result
    lines = not_tested(terminalreporter.stats.get("skipped", []), config.stash.get(_deselected, []),
                       config.option.markexpr, config.option.keyword)
    if not lines:
        terminalreporter.write_sep("=", ALL_TESTED, green=True)
        return result
    terminalreporter.write_sep("=", TITLE, yellow=True, bold=True)
    for line in lines:
        terminalreporter.write_line(line)
    return result
