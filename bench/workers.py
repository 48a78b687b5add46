"""Start N multi-worker processes of a lab on this machine, worker i pinned to core i; wait for all.

    python bench/workers.py N labs/02_mnist_cnn.py --strategy multiworker [lab options]

What SLURM does on a cluster (one task per worker, ``TF_CONFIG`` from the allocation), for the
benchmark's weak-scaling rows. Exits with the first non-zero status of a worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workbench.board import free_ports


def main() -> int:
    count, command = int(sys.argv[1]), sys.argv[2:]
    workers = [f"127.0.0.1:{port}" for port in free_ports(count)]
    cores = sorted(os.sched_getaffinity(0))
    processes = [subprocess.Popen(
        ["taskset", "-c", str(cores[index % len(cores)]), sys.executable, *command],
        env={**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                    "task": {"type": "worker", "index": index}})})
        for index in range(count)]
    codes = [process.wait() for process in processes]
    return next((code for code in codes if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main())
