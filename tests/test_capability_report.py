"""The closing "Capabilities NOT tested" list, checked on tiny generated suites run by pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

from .capabilities import ALL_TESTED, TITLE, not_tested

pytest_plugins = ["pytester"]

# The generated suite loads the hooks exactly as tests/conftest.py does.
CONFTEST = ("from tests.capabilities import (pytest_deselected, pytest_sessionfinish,  # noqa: F401\n"
            "    pytest_terminal_summary, pytest_testnodedown)\n")
SUITE = {
    "test_slurm": """
        import pytest

        @pytest.fixture
        def slurm():
            pytest.skip("no SLURM here (scripts/local_slurm.sh start)")

        def test_array_sweep(slurm):
            pass

        def test_requeue(slurm):
            pass
        """,
    "test_models": """
        import pytest

        def test_parameter_count():
            pass

        @pytest.mark.slow
        def test_training():
            pass
        """,
}


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    slow: trains on real data\n")
    pytester.makepyfile(**SUITE)
    return pytester


def closing_lines(result) -> list[str]:
    """The lines between our title and pytest's final "N passed" line."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if TITLE in line)
    return [line for line in lines[start + 1:] if not line.startswith("=")]


def test_skipped_tests_are_listed_by_capability_and_reason(suite):
    result = suite.runpytest("test_slurm.py", "test_models.py::test_parameter_count")
    result.assert_outcomes(passed=1, skipped=2)
    assert closing_lines(result) == [
        "SLURM job scripts (2 tests): no SLURM here (scripts/local_slurm.sh start)"]
    assert ALL_TESTED not in result.stdout.str()


def test_deselected_tests_are_listed_with_the_marker_expression(suite):
    result = suite.runpytest("-m", "not slow")
    result.assert_outcomes(passed=1, skipped=2, deselected=1)
    assert closing_lines(result) == [
        "SLURM job scripts (2 tests): no SLURM here (scripts/local_slurm.sh start)",
        "test_models (1 test): deselected by -m 'not slow'"]


def test_two_xdist_workers_report_the_same_list_once(suite, monkeypatch):
    # `./workshop test` runs on two workers; each deselects the whole suite's slow tests itself.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))  # for `tests.`
    result = suite.runpytest_subprocess("-n", "2", "-m", "not slow")
    result.assert_outcomes(passed=1, skipped=2)  # xdist's closing line leaves deselected out
    assert closing_lines(result) == [
        "SLURM job scripts (2 tests): no SLURM here (scripts/local_slurm.sh start)",
        "test_models (1 test): deselected by -m 'not slow'"]


def test_a_full_run_says_every_capability_was_tested(suite):
    result = suite.runpytest("test_models.py")
    result.assert_outcomes(passed=2)
    assert TITLE not in result.stdout.str()
    result.stdout.fnmatch_lines([f"*{ALL_TESTED}*"])


def test_collect_only_claims_nothing(suite):
    result = suite.runpytest("--collect-only", "-m", "not slow")
    assert TITLE not in result.stdout.str() and ALL_TESTED not in result.stdout.str()


def test_a_module_skipped_at_collection_counts_once_and_k_is_named():
    class Report:
        nodeid, when = "tests/test_notebooks.py", "collect"
        longrepr = ("tests/test_notebooks.py", 3, "Skipped: could not import 'nbclient'")

    assert not_tested([Report()], []) == [
        "notebooks executed in a kernel (1 module): could not import 'nbclient'"]
    assert not_tested([], ["tests/test_tensorboard.py::test_tags"], "", "tags") == [
        "TensorBoard server and browser (1 test): deselected by -k 'tags'"]
