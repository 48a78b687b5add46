"""Executing a notebook's cells in a sandboxed IPython kernel, under wall-clock limits.

The kernel (ipykernel) is started inside the submission's sandbox and reached over ZeroMQ's IPC
transport: its sockets are files in the submission's folder, because the sandbox has no network of
its own to share. Interrupts travel as Jupyter ``interrupt_request`` messages (a signal could not
reach into the sandbox's PID namespace), and a cell that ignores them is ended by killing the
sandbox. Cell results are used only to tell how far the notebook got and why it stopped; whether
a check passed is never read from the kernel (see :mod:`workbench.grading.referee`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from workbench.grading.sandbox import Sandbox

INTERRUPT_GRACE = 5  # seconds a cell gets to stop after an interrupt before the kernel is killed


@dataclass
class CellResult:
    status: str  # "ok", "error" (the cell raised), "timeout", "died", "flood" (too much output)
    detail: str = ""  # the error's first line, or why the kernel stopped


class Kernel:
    """One sandboxed kernel for one submission; a context manager that always kills it."""

    def __init__(self, sandbox: Sandbox, env: dict[str, str]):
        self.sandbox, self.env = sandbox, env
        self.process: subprocess.Popen | None = None
        self.client: BlockingKernelClient | None = None
        self.output_bytes = 0

    def __enter__(self) -> Kernel:
        folder = self.sandbox.folder
        connection = folder / "kernel.json"
        write_connection_file(str(connection), transport="ipc", ip=str(folder / "kernel"))
        self.sandbox.prepare()
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection),
                "--HistoryManager.enabled=False"]
        self.process = subprocess.Popen(
            self.sandbox.command(argv), env=self.sandbox.environment(self.env), cwd=folder,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(connection))
        self.client.start_channels()
        self._wait_until_ready(timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the kernel exited while starting (status {self.process.returncode})")
            try:
                self.client.wait_for_ready(timeout=2)
                return
            except RuntimeError:
                continue
        raise RuntimeError(f"the kernel did not start within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def execute(self, code: str, timeout: float, output_limit: int) -> CellResult:
        """Run one cell; give up at ``timeout`` seconds (interrupt, then kill)."""
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        error = ""
        while True:
            if not self.alive():
                return CellResult("died", f"the kernel died (exit status {self.process.returncode})")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._interrupt(msg_id, timeout)
            try:
                message = self.client.get_iopub_msg(timeout=min(0.5, remaining))
            except queue.Empty:
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "error":
                error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".strip()
            if kind in ("stream", "display_data", "execute_result", "error"):
                self.output_bytes += len(json.dumps(content))
                if self.output_bytes > output_limit:
                    self.kill()
                    return CellResult("flood", f"printed more than the {output_limit // 1024} KB of output "
                                               "a notebook may print, so the kernel was stopped")
            if kind == "status" and content.get("execution_state") == "idle":
                return CellResult("error", error) if error else CellResult("ok")

    def _interrupt(self, msg_id: str, timeout: float) -> CellResult:
        self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))
        deadline = time.monotonic() + INTERRUPT_GRACE
        while time.monotonic() < deadline and self.alive():
            try:
                message = self.client.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if (message.get("parent_header", {}).get("msg_id") == msg_id and
                    message["msg_type"] == "status" and message["content"].get("execution_state") == "idle"):
                return CellResult("timeout", f"ran past the {timeout:.0f} s limit and was interrupted")
        self.kill()
        return CellResult("timeout", f"ran past the {timeout:.0f} s limit and did not stop when "
                                     "interrupted, so the kernel was killed")
