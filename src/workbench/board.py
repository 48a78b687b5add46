"""Start TensorBoard where a participant can reach it, and say how.

``workbench board [LOGDIR]`` binds TensorBoard to 127.0.0.1 on a free port (never a guessable,
shared 6006 on a login node used by hundreds of people) behind a secret made for this launch
(loopback alone keeps nobody out: every user of the host reaches it; see ``board_server``), and
prints the ways in, each address ending in ``?token=SECRET``:

* the local address, for a laptop or an ssh session with a tunnel;
* the ssh-tunnel line for a cluster: through the login node to this host (``--host`` set to the
  node's name, as ``slurm/tensorboard.sbatch`` does on a compute node, since a login node cannot
  reach a compute node's loopback);
* inside JupyterLab with jupyter-server-proxy, the proxied URL: ``TENSORBOARD_PROXY_URL`` (the
  variable TensorBoard's own notebook magic reads, ``%PORT%`` standing for the port) or, on a
  JupyterHub, ``$JUPYTERHUB_SERVICE_PREFIX/proxy/<port>/``.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from workbench.board_server import TOKEN_VARIABLE

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free ports: all held open at once, so no two are the same."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def tunnel_line(port: int, host: str = LOOPBACK, env: dict | None = None) -> str:
    """The ssh command a user runs on their laptop to reach ``host:port`` through the login node."""
    env = dict(os.environ if env is None else env)
    user = env.get("USER") or getpass.getuser()
    if host in (LOOPBACK, "localhost"):  # TensorBoard runs on the machine the user ssh'es into
        login = env.get("WORKBENCH_LOGIN_HOST") or socket.getfqdn()
        return f"ssh -N -L {port}:localhost:{port} {user}@{login}"
    login = env.get("WORKBENCH_LOGIN_HOST") or env.get("SLURM_SUBMIT_HOST") or "login.cluster"
    return f"ssh -N -L {port}:{host}:{port} {user}@{login}"


def proxy_url(port: int, env: dict | None = None) -> str | None:
    """The jupyter-server-proxy address of ``port``, when running under JupyterLab/JupyterHub."""
    env = dict(os.environ if env is None else env)
    if env.get("TENSORBOARD_PROXY_URL"):
        return env["TENSORBOARD_PROXY_URL"].replace("%PORT%", str(port))
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    return f"{prefix.rstrip('/')}/proxy/{port}/" if prefix else None


def with_token(address: str, token: str) -> str:
    return f"{address}{'&' if '?' in address else '?'}token={token}"


@dataclass
class Board:
    """A running TensorBoard; ``stop()`` ends it (also used as a context manager).

    It answers only requests that carry ``token``: open ``url_with_token`` in a browser (the
    browser keeps the secret in a cookie); a script sends ``authorization`` as a header."""

    process: subprocess.Popen
    logdir: Path
    host: str
    port: int
    token: str

    @property
    def url(self) -> str:
        """Where it listens; without the token this address answers 403."""
        return f"http://{self.host}:{self.port}/"

    @property
    def url_with_token(self) -> str:
        return with_token(self.url, self.token)

    @property
    def authorization(self) -> dict[str, str]:
        """The header that lets a script in: ``urllib.request.Request(url, headers=board.authorization)``."""
        return {"Authorization": f"token {self.token}"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def instructions(self) -> str:
        lines = [f"TensorBoard over {self.logdir} is at {self.url_with_token}",
                 f"From your laptop: {tunnel_line(self.port, self.host)}",
                 f"then open {with_token(f'http://localhost:{self.port}/', self.token)}"]
        proxied = proxy_url(self.port)
        if proxied:
            lines.append(f"In JupyterLab: {with_token(proxied, self.token)}")
        lines.append("The token is this launch's key: whoever has the whole address gets in, nobody else.")
        return "\n".join(lines)


def start(logdir: Path | str, host: str = LOOPBACK, port: int = 0, timeout: float = 120,
          quiet: bool = True) -> Board:
    """Start TensorBoard over ``logdir``, behind a fresh secret, and return once it answers."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise FileNotFoundError(f"no log directory {logdir}: train a lab first, or pass the directory "
                                "that holds the runs (e.g. logs/$USER)")
    port = port or free_port(host)
    token = secrets.token_urlsafe(32)
    # The token travels in the environment: argv is readable by every user (ps), environ is not.
    command = [sys.executable, "-m", "workbench.board_server", "--logdir", str(logdir), "--host", host,
               "--port", str(port), "--reload_interval", "5"]
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(command, stdout=output, stderr=output,
                               env={**os.environ, TOKEN_VARIABLE: token})
    board = Board(process, logdir, host, port, token)
    probe = urllib.request.Request(f"http://{LOOPBACK if host == '0.0.0.0' else host}:{port}/data/logdir",
                                   headers=board.authorization)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"TensorBoard exited with status {process.returncode} before it answered; "
                               f"run `workbench board {logdir} --host {host} --port {port}` to see why")
        try:
            urllib.request.urlopen(probe, timeout=2).read()
            return board
        except OSError:
            time.sleep(0.3)
    board.stop()
    raise TimeoutError(f"TensorBoard did not answer on {host}:{port} within {timeout:.0f} s")


def serve(logdir: Path | str, host: str = LOOPBACK, port: int = 0) -> int:
    """``workbench board``: start, print the ways in, run until interrupted."""
    board = start(logdir, host, port, quiet=False)
    print(board.instructions(), flush=True)
    try:
        return board.process.wait()
    except KeyboardInterrupt:
        board.stop()
        return 0
