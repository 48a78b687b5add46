#!/usr/bin/env python
"""Time every solution notebook in quick mode (target: well under a minute each on 2 CPU cores).

    WORKBENCH_DATA=../shared/data python bench/notebook_times.py [--out bench/RESULTS.md]

Times include kernel start-up and the TensorFlow import, as a participant experiences them.
A benchmark, not a test: it reports figures and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from workbench import jupyter_kernel

ROOT = Path(__file__).resolve().parents[1]


def time_notebook(path: Path, workdir: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    # The kernel the notebook names (keras-workbench), as a participant's JupyterLab starts it.
    client = NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(workdir)}})
    started = time.perf_counter()
    client.execute()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="append a markdown table to this file")
    args = parser.parse_args()
    registration = jupyter_kernel.installed()
    problem = "not installed" if registration is None else registration.problem()
    if problem:  # else every notebook would fail with "No such kernel" or run another environment
        sys.exit(f"the notebooks' kernel {jupyter_kernel.KERNEL_NAME!r}: {problem}; run `./workshop setup` "
                 "(registers it in .venv) or `workbench kernel install --sys-prefix`, then this again.")
    os.environ.update(WORKBENCH_QUICK="1", MPLBACKEND="Agg")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        os.environ["WORKBENCH_LOGS"] = str(Path(workdir) / "logs")
        for path in sorted((ROOT / "solutions").glob("*.ipynb")):
            seconds = time_notebook(path, Path(workdir))
            rows.append((path.stem, seconds))
            print(f"{path.stem:24s} {seconds:6.1f} s", flush=True)
    table = [f"\n### Quick-mode notebook times, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
             f"{platform.processor() or platform.machine()}\n", "| notebook | seconds |", "|---|---|"]
    table += [f"| {name} | {seconds:.1f} |" for name, seconds in rows]
    if args.out:
        with open(args.out, "a") as handle:
            handle.write("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
