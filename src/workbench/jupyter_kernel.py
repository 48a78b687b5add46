"""This environment as a named Jupyter kernel, so notebooks run with the workbench wherever Jupyter runs.

On a shared JupyterHub, JupyterLab runs in the site's environment, and its generic ``python3``
kernel is that environment's Python: no TensorFlow, no workbench. The labs therefore ask for a
kernel by name (``KERNEL_NAME`` in every notebook's ``metadata.kernelspec``), and this module
registers that name for the environment the workbench is installed in:

* ``kernel.json``'s ``argv`` starts with this environment's absolute python (``sys.executable``),
  so a JupyterLab running anywhere else starts the kernel here;
* its ``env`` carries ``WORKBENCH_KERNEL=<name>`` (code in a notebook asks ``current_kernel()`` to
  know it runs in the workbench's kernel), and, when asked for, ``WORKBENCH_DATA`` and
  ``WORKBENCH_QUICK``: a kernel started by the hub does not see the participant's shell settings.

ipykernel writes the spec (``ipykernel.kernelspec.install``), so it stays what ``ipykernel install``
would write, debugger metadata included. Where it goes is Jupyter's: ``--user`` is the user's
Jupyter data directory (``$JUPYTER_DATA_DIR``, default ``~/.local/share/jupyter``), which every
JupyterLab the user starts searches; ``--prefix DIR`` is ``DIR/share/jupyter``, searched by a
Jupyter installed in ``DIR`` or named in ``$JUPYTER_PATH``.

A registration outlives its environment: a kernel pointing at a deleted or rebuilt virtual
environment fails to start with a bare "kernel died". ``installed()`` and ``Registration.problem``
find that case, and ``workbench doctor`` reports it with the command that fixes it.

jupyter_client and ipykernel are imported inside the functions, so that importing this module
(``workbench.cli`` does, for ``KERNEL_NAME``) stays cheap on a login node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError

KERNEL_NAME = "keras-workbench"
MARKER = "WORKBENCH_KERNEL"  # in the kernel's env: which workbench kernel this process runs in
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
DISPLAY_NAME = f"Keras workbench (Python {PYTHON_VERSION})"
# What Jupyter accepts as a kernel directory name (jupyter_client.kernelspec._kernel_name_pat);
# Jupyter lower-cases names, so we do too before checking.
VALID_NAME = re.compile(r"^[a-z0-9._-]+$")
CHANGE_KERNEL = "Kernel → Change Kernel…"


class KernelError(WorkbenchError):
    """A kernel that cannot be registered or removed as asked; the message says what to do."""


def current_kernel() -> str | None:
    """The workbench kernel this code runs in (its registered name), or None outside one.

    Set by the kernel's spec, so it is None in a plain ``python3`` kernel, in a script and in a
    terminal: a set-up check in a notebook can tell a participant to switch kernels.
    """
    return os.environ.get(MARKER) or None


def default_display_name(name: str = KERNEL_NAME) -> str:
    """What JupyterLab's launcher shows: a second registration (e.g. a GPU one) says its name."""
    return DISPLAY_NAME if name == KERNEL_NAME else f"Keras workbench: {name} (Python {PYTHON_VERSION})"


def checked_name(name: str) -> str:
    """``name`` as Jupyter stores it (lower case), or an error saying which names work."""
    lowered = name.lower()
    if not VALID_NAME.match(lowered):
        raise KernelError(f"kernel name {name!r}: Jupyter accepts only ASCII letters, digits and - . _ "
                          f"(e.g. {KERNEL_NAME}-gpu); pass another --name.")
    return lowered


def resolve_data(given: str | os.PathLike | None, *, from_environment: bool = True) -> Path | None:
    """The data directory the kernel should carry, absolute: ``given`` (``--data``), else
    ``$WORKBENCH_DATA`` when ``from_environment``; None when neither names one.

    Refused when it is not a directory: the kernel would start fine and the first lab would then
    fail to find MNIST, far from the mistake.
    """
    if given is not None and str(given) != "":
        path = Path(given).expanduser().resolve()
        if not path.is_dir():
            raise KernelError(
                f"--data {given}: {path} is not a directory. Give the directory that holds the staged "
                "datasets (`workbench data verify --dir DIR` shows what it has), or stage them there "
                f"first with `workbench data fetch --dir {path}`.")
        return path
    raw = os.environ.get("WORKBENCH_DATA") if from_environment else None
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise KernelError(
            f"WORKBENCH_DATA={raw} (from your environment) is not a directory, and the kernel would "
            "look for datasets there. Pass --data DIR with the staged datasets, or unset WORKBENCH_DATA "
            "to register the kernel without a data directory.")
    return path


def kernel_env(name: str = KERNEL_NAME, data: Path | None = None,
               quick: bool | None = None) -> dict[str, str]:
    """The ``env`` of the kernel spec: the marker, and the data directory and quick mode if given.

    Jupyter overrides the server's environment with these (and ``$NAME`` in a value is
    substituted from it, so a literal ``$`` in a path is written as ``$$``). ``quick=None`` leaves
    ``WORKBENCH_QUICK`` to whoever starts the kernel.
    """
    env = {MARKER: name}
    if data is not None:
        env["WORKBENCH_DATA"] = str(data).replace("$", "$$")
    if quick is not None:
        env["WORKBENCH_QUICK"] = "1" if quick else "0"  # settings.env_flag reads "0" as off
    return env


def user_kernel_dir() -> Path:
    """Where ``--user`` puts kernels: ``$JUPYTER_DATA_DIR/kernels`` (~/.local/share/jupyter/kernels)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "kernels"


def destination(name: str = KERNEL_NAME, prefix: str | os.PathLike | None = None) -> Path:
    """The kernel's directory: under ``prefix``/share/jupyter/kernels, or the user's when None."""
    name = checked_name(name)
    if prefix is None:
        return user_kernel_dir() / name
    return Path(os.path.abspath(prefix)) / "share" / "jupyter" / "kernels" / name


def location_flags(resource_dir: Path) -> str:
    """The ``workbench kernel install`` option that writes to ``resource_dir``'s location."""
    kernels = Path(resource_dir).parent
    if same_directory(kernels, user_kernel_dir()):
        return "--user"
    if kernels.parts[-3:] == ("share", "jupyter", "kernels"):
        prefix = kernels.parent.parent.parent
        return "--sys-prefix" if same_directory(prefix, Path(sys.prefix)) else f"--prefix {prefix}"
    return "--user"  # an ~/.ipython/kernels or other legacy place: the user's own is the fix


def same_directory(a: Path, b: Path) -> bool:
    """Whether two paths name one directory (Jupyter lists its directories as configured, unresolved)."""
    try:
        return a.samefile(b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def same_environment(python: str | os.PathLike, other: str | os.PathLike = sys.executable) -> bool:
    """Whether two python commands run the same environment.

    Not by resolving links: a virtual environment's ``bin/python`` is a link to the base python,
    yet a different environment (its ``pyvenv.cfg`` sits beside ``bin/``). The same ``bin``
    directory and the same interpreter behind the name (``python`` and ``python3`` in one venv)
    are the same environment.
    """
    python, other = Path(python), Path(other)
    try:
        return python.parent.samefile(other.parent) and python.resolve() == other.resolve()
    except OSError:
        return False


@dataclass(frozen=True)
class Registration:
    """A kernel spec as Jupyter finds it: where, what it starts, with which environment variables."""

    name: str
    resource_dir: Path
    display_name: str
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> str:
        return self.argv[0] if self.argv else ""

    def problem(self) -> str | None:
        """Why this registration would not start the workbench of this environment, or None."""
        python = self.python
        if not python:
            return f"{self.resource_dir}/kernel.json has no command (empty argv)"
        if not os.path.isabs(python):
            # jupyter_client runs a bare "python" as the Jupyter server's own python: the hub's.
            return (f"it starts {python!r}, which Jupyter replaces by the python it runs in (on a hub, "
                    "one without the workbench)")
        if not Path(python).exists():
            return f"its python {python} no longer exists (its environment was deleted or moved)"
        if not same_environment(python):
            return f"it starts {python}, another environment's python, not this one's ({sys.executable})"
        if self.env.get(MARKER) != self.name:
            return (f"it is not a workbench kernel (no {MARKER}={self.name} in its env), though it "
                    "starts this environment's python")
        return None

    @property
    def env_text(self) -> str:
        """The variables as the kernel gets them (Jupyter turns an escaped ``$$`` into ``$``)."""
        pairs = (f"{key}={value.replace('$$', '$')}" for key, value in sorted(self.env.items()))
        return " ".join(pairs) or "(none)"

    def fix(self) -> str:
        """The command that replaces this registration by a good one, in the same place."""
        return f"workbench kernel install {location_flags(self.resource_dir)}{_name_option(self.name)}"

    def remove_command(self) -> str:
        return f"workbench kernel remove {location_flags(self.resource_dir)}{_name_option(self.name)}"


def _name_option(name: str) -> str:
    """``--name NAME`` for a command line, empty for the default name."""
    return "" if name == KERNEL_NAME else f" --name {name}"


def read_registration(resource_dir: str | os.PathLike, name: str | None = None) -> Registration:
    """The kernel spec in ``resource_dir`` (a directory holding kernel.json)."""
    from jupyter_client.kernelspec import KernelSpec

    spec = KernelSpec.from_resource_dir(str(resource_dir))
    return Registration(name=name or Path(resource_dir).name.lower(), resource_dir=Path(resource_dir),
                        display_name=spec.display_name, argv=list(spec.argv), env=dict(spec.env))


def installed(name: str = KERNEL_NAME) -> Registration | None:
    """The kernel Jupyter would start for ``name``, as a Jupyter run from this environment sees it
    (``$JUPYTER_PATH`` first, then this environment's and the user's directories, then the
    system's); None when there is none. The first one found wins, as in JupyterLab: a stale user
    kernel hides a good one further down, and this returns the stale one.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(checked_name(name))
    except NoSuchKernel:
        return None
    return read_registration(spec.resource_dir, checked_name(name))


def registrations(name: str = KERNEL_NAME) -> list[Registration]:
    """Every registration of ``name`` in the directories ``installed`` searches, in search order.

    The first is the one a Jupyter run from this environment starts; a Jupyter elsewhere (a hub's)
    searches the user's directory before its own, so a stale user kernel further down this list
    is still the one a participant's JupyterLab starts.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    name = checked_name(name)
    found = []
    for directory in KernelSpecManager().kernel_dirs:
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            path = Path(directory) / entry
            if entry.lower() == name and (path / "kernel.json").is_file() and not any(
                    same_directory(path, known.resource_dir) for known in found):
                found.append(read_registration(path, name))
    return found


def searched(directory: Path) -> bool:
    """Whether a Jupyter run from this environment looks for kernels in ``directory``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return any(same_directory(directory, Path(found)) for found in KernelSpecManager().kernel_dirs
               if Path(found).is_dir())


def install(name: str = KERNEL_NAME, *, prefix: str | os.PathLike | None = None,
            display_name: str | None = None, data: str | os.PathLike | None = None,
            quick: bool | None = None) -> Registration:
    """Register this environment's python as kernel ``name``; return the registration written.

    ``prefix``: under ``prefix``/share/jupyter/kernels (``sys.prefix``: this environment's own);
    None: the user's Jupyter data directory. ``data``: the data directory the kernel carries
    (None: none, the kernel inherits ``WORKBENCH_DATA`` from whoever starts it). A registration of
    the same name in the same place is replaced; others are left alone.
    """
    from ipykernel.kernelspec import install as ipykernel_install
    from jupyter_client.kernelspec import KernelSpecManager

    name = checked_name(name)
    if not sys.executable or not os.path.isabs(sys.executable):
        raise KernelError(f"this python's path is unknown (sys.executable={sys.executable!r}); run "
                          "`workbench kernel install` as the environment's bin/workbench or bin/python -m")
    env = kernel_env(name, resolve_data(data, from_environment=False), quick)
    target = destination(name, prefix)
    try:
        written = ipykernel_install(KernelSpecManager(), user=prefix is None, kernel_name=name,
                                    display_name=display_name or default_display_name(name),
                                    prefix=None if prefix is None else str(prefix), env=env)
    except PermissionError as error:
        raise KernelError(f"cannot write the kernel to {target} ({location_flags(target)}): "
                          f"{error.strerror}. Register it for yourself with `workbench kernel install "
                          "--user`, or ask whoever owns that directory to run the command.") from error
    registration = read_registration(written, name)
    if registration.python != sys.executable:  # ipykernel's choice of command changed under us
        raise KernelError(f"{written}/kernel.json starts {registration.python!r}, not {sys.executable}; "
                          f"the installed ipykernel writes another command; remove it with "
                          f"`workbench kernel remove` and report this.")
    return registration


def remove(name: str = KERNEL_NAME, *, prefix: str | os.PathLike | None = None) -> Path:
    """Delete workbench kernel ``name`` from one place (``prefix`` or the user's); return its directory.

    Only a workbench kernel (``WORKBENCH_KERNEL`` in its env) is removed: a mistyped ``--name
    python3`` must not delete the site's own kernel.
    """
    target = destination(name, prefix)
    spec_file = target / "kernel.json"
    if not spec_file.is_file():
        where = "--user" if prefix is None else f"--prefix {prefix}"
        found = installed(name)
        elsewhere = (f"; Jupyter finds one in {found.resource_dir} (remove that one with "
                     f"`{found.remove_command()}`)" if found else "")
        raise KernelError(f"no kernel {checked_name(name)!r} in {target.parent} ({where}){elsewhere}.")
    try:
        env = json.loads(spec_file.read_text()).get("env") or {}
    except (OSError, ValueError) as error:
        raise KernelError(f"{spec_file} cannot be read ({error}); delete {target} by hand.") from error
    if env.get(MARKER) != checked_name(name):
        raise KernelError(f"{target} is not a workbench kernel (its kernel.json has no "
                          f"{MARKER}={checked_name(name)}), so it is left alone; if it must go, run "
                          f"`jupyter kernelspec remove {checked_name(name)}`.")
    if target.is_symlink():
        target.unlink()
    else:
        shutil.rmtree(target)
    return target
