"""Where a submission's code runs: a bubblewrap sandbox under resource limits.

Each submission runs in its own folder (a fresh copy of its notebook and nothing else), inside
Debian's ``bubblewrap`` (``bwrap``), the sandbox Flatpak uses, chosen because it needs no daemon,
works unprivileged where user namespaces are allowed, and builds the view from nothing:

* the filesystem is empty but for read-only system directories (``/usr``, ``/etc``), the Python
  installation, the environment and the ``workbench`` package, the staged data, a private ``/tmp``
  and the submission's own folder (the only writable path). Other submissions, the gradebook, the
  instructor's ``solutions/`` (hidden tests) and the grader's home are simply not there;
* new PID, IPC, UTS and network namespaces: no network, no signals to the grader's processes, and
  killing the sandbox's first process ends everything the submission started (fork bombs included);
* ``prlimit`` sets limits that hold in C code as well as Python: data segment (memory; not the
  address space, which TensorFlow reserves far beyond what it uses), processes (RLIMIT_NPROC),
  CPU seconds, file size and open files;
* run as root, the grader drops to a dedicated unprivileged user per worker (``setpriv``), so the
  process limit counts only that submission's processes, and the sandbox cannot write files the
  grader owns even where it can see them. Before a worker's user serves the next submission,
  whatever still runs as it is killed and waited for (a fork bomb takes a while to die). Not
  root, bwrap maps the grader's own user instead and the process limit also counts the grader's
  processes (it is raised by what is running already).

Wall-clock limits (per cell, per notebook) are the grader's: it interrupts, then kills.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

SANDBOX_UID = 61000  # first sandbox user; no such user needs to exist
UIDS_PER_RUN = 64  # workers of one grading run; runs at once (a SLURM node, a test suite) get other blocks


def sandbox_uid(worker: int, referee: bool = False) -> int:
    """A user of its own for each worker of each grading process, and another for its referee, so
    that one submission's process limit (a fork bomb, whose thousands of processes take a while to
    die) never touches another's, nor the referee that judges it."""
    slot = (worker % (UIDS_PER_RUN // 2)) * 2 + referee
    return SANDBOX_UID + (os.getpid() % 10_000) * UIDS_PER_RUN + slot


def processes_of(uid: int) -> list[int]:
    """The processes (zombies included: they still count against the limit) whose real user is ``uid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # it ended while we looked
            continue
        for line in status.splitlines():
            if line.startswith("Uid:"):
                if int(line.split()[1]) == uid:
                    found.append(int(entry.name))
                break
    return found


class SandboxError(WorkbenchError):
    """The sandbox cannot be set up here."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Defaults suit quick-mode training cells on a CPU node."""

    cell_seconds: int = 600
    notebook_seconds: int = 1800
    memory_mb: int = 6144  # data segment of each process
    processes: int = 512  # tasks (threads count: TensorFlow starts dozens)
    cpu_seconds: int = 7200  # per process, all threads together
    file_mb: int = 512  # largest file it may write
    output_kb: int = 2048  # output a notebook may print (progress bars included) before it is stopped
    referee_seconds: int = 600


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxError(
            "bubblewrap (`bwrap`) is needed to grade untrusted notebooks and was not found: install it "
            "(Debian/Ubuntu: apt-get install bubblewrap; RHEL: dnf install bubblewrap), or pass "
            "--sandbox none to grade trusted notebooks (your own solutions) without isolation.")
    return found


def _python_roots() -> list[Path]:
    """The environment and the interpreter it was made from (a venv links to it)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parents[1]}
    return sorted(roots)


def _package_root() -> Path:
    import workbench

    return Path(workbench.__file__).resolve().parents[1]  # src/ (editable) or site-packages


# What a notebook may read from the checkout (sweep files, lab scripts and their reference logs,
# job scripts): never solutions/ (hidden tests), .git (their history), or whatever else an
# instructor keeps there (submissions, gradebooks).
CHECKOUT_READABLE = ("src", "labs", "sweeps", "slurm", "notebooks")


def _checkout_parts() -> list[Path]:
    from workbench import settings

    try:
        root = settings.repository_root()
    except FileNotFoundError:  # an installed package without a checkout
        return []
    return [root / name for name in CHECKOUT_READABLE if (root / name).is_dir()]


def _parents(path: Path) -> list[str]:
    """bwrap ``--dir`` arguments that create the (readable) parents of a bind target."""
    out = []
    for parent in reversed(path.parents):
        if str(parent) not in ("/",):
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


@dataclass
class Sandbox:
    """The command that runs ``argv`` inside the sandbox of ``folder``."""

    folder: Path
    limits: Limits
    data: Path | None = None
    worker: int = 0
    isolate: bool = True
    referee: bool = False  # the referee runs as a user of its own

    @property
    def uid(self) -> int | None:
        return sandbox_uid(self.worker, self.referee) if self.isolate and os.geteuid() == 0 else None

    def prepare(self) -> None:
        self.end_leftovers()
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            for path in [self.folder, *self.folder.rglob("*")]:
                os.chown(path, self.uid, self.uid)

    def end_leftovers(self, seconds: float = 60) -> None:
        """Kill whatever still runs as this sandbox's user and wait until it is gone.

        A worker's user serves one submission after another. A fork bomb's thousands of processes
        die some time after its sandbox is killed, and until they are gone they count against the
        process limit of the user's next submission, whose kernel then cannot even start its
        threads: one participant's bomb would cost the next participant the grade.
        """
        uid = self.uid
        if uid is None:
            return
        deadline = time.monotonic() + seconds
        while pids := processes_of(uid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pids)} processes of sandbox user {uid}, left by an earlier "
                                   f"submission, would not end within {seconds:.0f} s; grade this "
                                   "participant again with --only once they are gone")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.folder), "TMPDIR": "/tmp" if self.isolate else str(self.folder),
            "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2",
            "USER": "sandbox", "LOGNAME": "sandbox",  # the sandbox user has no passwd entry
            "PYTHONDONTWRITEBYTECODE": "1", "JUPYTER_PLATFORM_DIRS": "1",
        }
        if self.data is not None:  # the path bound in the sandbox: symlinks resolved
            env["WORKBENCH_DATA"] = os.path.realpath(self.data)
        env.update(extra or {})
        return env

    def command(self, argv: list[str], writable: bool = True) -> list[str]:
        limits = self.limits
        rlimits = ["prlimit", f"--data={limits.memory_mb * 2**20}", f"--nproc={self._nproc()}",
                   f"--cpu={limits.cpu_seconds}", f"--fsize={limits.file_mb * 2**20}",
                   "--nofile=1024", "--core=0", "--"]
        if not self.isolate:
            return rlimits + argv
        drop = [] if self.uid is None else [
            "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--"]
        view = [bwrap_path(), "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                "--die-with-parent", "--new-session", "--hostname", "sandbox",
                "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
                "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        if os.geteuid() != 0:
            view[1:1] = ["--unshare-user"]
        for name in ("bin", "sbin", "lib", "lib64", "lib32"):
            link = Path("/") / name
            if link.is_symlink():
                view += ["--symlink", os.readlink(link), str(link)]
            elif link.is_dir():
                view += ["--ro-bind", str(link), str(link)]
        # Paths under /usr and /etc are already there; anything else (a venv or a checkout under
        # /tmp, whose tmpfs starts empty, included) is bound read-only on its own.
        made = {"/usr", "/etc"}
        reads = [*_python_roots(), _package_root(), *_checkout_parts(), *([self.data] if self.data else [])]
        for path in reads:
            path = Path(os.path.realpath(path))
            if any(str(path).startswith(m + "/") or str(path) == m for m in made):
                continue
            view += _parents(path) + ["--ro-bind", str(path), str(path)]
            made.add(str(path))
        view += _parents(self.folder)
        view += ["--bind" if writable else "--ro-bind", str(self.folder), str(self.folder),
                 "--chdir", str(self.folder)]
        return view + rlimits + drop + argv

    def _nproc(self) -> int:
        if self.uid is not None:
            return self.limits.processes
        running = subprocess.run(["ps", "-U", str(os.getuid()), "-L", "--no-headers"],
                                 capture_output=True, text=True).stdout.count("\n")
        return self.limits.processes + running
