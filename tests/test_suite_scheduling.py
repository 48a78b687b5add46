"""The suite's own scheduling: tests that share a cluster or a costly fixture run on one worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = '''
import os
import pytest

def record(tmp_name):
    with open(os.environ["WHERE"], "a") as out:
        out.write(f"{tmp_name} {os.environ.get('PYTEST_XDIST_WORKER')}\\n")

@pytest.mark.slurm
@pytest.mark.parametrize("i", range(4))
def test_on_the_cluster(i):
    record(f"slurm{i}")

@pytest.mark.parametrize("i", range(6))
def test_elsewhere(i):
    record(f"other{i}")
'''


def test_slurm_tests_share_one_worker(tmp_path):
    """Run with the suite's conftest hook on three workers: every SLURM-marked test on the same one."""
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slurm: uses the cluster\n")
    where = tmp_path / "where.txt"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "WHERE": str(where)})
    assert done.returncode == 0, done.stdout + done.stderr
    workers = dict(line.split() for line in where.read_text().splitlines())
    assert len(workers) == 10
    assert len({workers[f"slurm{i}"] for i in range(4)}) == 1, workers
    assert len(set(workers.values())) > 1  # the others are spread, so grouping was a choice
