"""The ``workbench`` command.

Subcommands register themselves in ``COMMANDS``; each imports what it needs (TensorFlow only in
those that train or inspect it), so ``workbench --help`` answers instantly on a login node.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def add(function):
        COMMANDS[name] = function
        return function

    return add


# --------------------------------------------------------------------------- data


@command("data fetch")
def data_fetch(args) -> int:
    from workbench import settings
    from workbench.data import fetch, registry

    directory = Path(args.dir) if args.dir else settings.download_dir()
    directory.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.names or list(registry.DATASETS):
        spec = registry.get(name)
        try:
            path = fetch.fetch(spec, directory, retries=args.retries)
            print(f"{name}: OK {path}")
        except fetch.FetchError as error:
            failed += 1
            print(f"{name}: FAILED {error}", file=sys.stderr)
    return 1 if failed else 0


@command("data verify")
def data_verify(args) -> int:
    from workbench.data import store

    reports = store.verify(args.dir, args.names or None)
    width = max(len(r.name) for r in reports)
    for report in reports:
        where = f" ({report.path})" if report.path else ""
        print(f"{report.name:<{width}}  {report.status:<7}  {report.detail}{where}")
    bad = [r for r in reports if r.status == "corrupt" or (args.names and r.status != "OK")]
    return 1 if bad else 0


@command("data list")
def data_list(args) -> int:
    from workbench.data import registry

    for spec in registry.DATASETS.values():
        counts = ", ".join(f"{v} {a}/{b}" for v, (a, b) in spec.counts.items())
        print(f"{spec.name:14s} {spec.title} — files: {' or '.join(spec.files)}; {counts}")
    return 0


# --------------------------------------------------------------------------- notebooks


@command("notebooks generate")
def notebooks_generate(args) -> int:
    from workbench import grading

    stale = grading.generate(Path(args.solutions), Path(args.notebooks), check_only=args.check)
    if args.check and stale:
        print("out of date (run `workbench notebooks generate`): " + ", ".join(map(str, stale)),
              file=sys.stderr)
        return 1
    print(f"{len(stale)} notebook(s) {'would change' if args.check else 'written'}")
    return 0


@command("notebooks nbgrader")
def notebooks_nbgrader(args) -> int:
    from workbench.grading.nbgrader_course import write_course

    course = write_course(Path(args.solutions), Path(args.course), labs=args.labs or None,
                          timeout=args.cell_seconds)
    print(f"nbgrader course written to {course}; in it: nbgrader generate_assignment <lab>, "
          "then nbgrader autograde <lab>")
    return 0


@command("grade")
def grade(args) -> int:
    from workbench import settings
    from workbench.grading.grader import grade_class
    from workbench.grading.sandbox import Limits

    shard = None
    if args.shard:
        index, _, count = args.shard.partition("/")
        if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
            raise ValueError(f"--shard {args.shard!r}: give INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4 "
                             "(a SLURM array passes $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).")
        shard = (int(index), int(count))
    for name in ("cell_seconds", "notebook_seconds", "memory_mb", "processes", "workers"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1.")
    limits = Limits(cell_seconds=args.cell_seconds, notebook_seconds=args.notebook_seconds,
                    memory_mb=args.memory_mb, processes=args.processes,
                    cpu_seconds=max(Limits.cpu_seconds, 2 * args.notebook_seconds))
    data = settings.data_dir()
    results = grade_class(
        Path(args.submissions), args.lab, solutions=Path(args.solutions), gradebook_path=Path(args.gradebook),
        results=Path(args.results) if args.results else None,
        feedback=Path(args.feedback) if args.feedback else None, limits=limits,
        data=data if data and data.is_dir() else None, quick=not args.full, workers=args.workers,
        only=args.only, shard=shard, merge_only=args.merge, isolate=args.sandbox == "bwrap")
    if shard is None:
        print(f"gradebook written to {args.gradebook} ({len(results)} participants)")
    return 0


# --------------------------------------------------------------------------- sweeps


@command("sweep")
def sweep(args) -> int:
    from workbench import sweep as sweeps

    if args.what == "summary":
        rows = sweeps.best(args.file, metric=args.metric, top=args.top)
        print(sweeps.markdown(rows))
        return 0
    spec = sweeps.load(args.file)
    if args.what == "run":
        sweep_dir = sweeps.run_all(args.file, args.lab_args, run_name=args.run_name)
        print(f"[sweep] all {len(sweeps.points(spec))} points done in {sweep_dir}; best first:")
        print(sweeps.markdown(sweeps.best(sweep_dir, metric=args.metric)))
        print(f"[sweep] compare them: workbench board {sweep_dir}  (HPARAMS tab)")
        return 0
    if args.lab_args:
        raise ValueError(f"`workbench sweep {args.what}` takes no lab options; only `workbench sweep run "
                         "FILE -- OPTIONS` passes options to the lab")
    answers = {
        "lab": lambda: spec["lab"],
        "count": lambda: str(len(sweeps.points(spec))),
        "args": lambda: " ".join(sweeps.as_flags(sweeps.point(spec, args.index))),
    }
    print(answers[args.what]())
    return 0


@command("board")
def board(args) -> int:
    from workbench import board as boards
    from workbench import settings

    return boards.serve(args.logdir or str(settings.logs_root()), host=args.host, port=args.port)


# --------------------------------------------------------------------------- jupyter kernel


def _kernel_prefix(args) -> str | None:
    """``--sys-prefix`` / ``--prefix DIR`` as a prefix; None (``--user``, the default) for the user's."""
    return None if args.user else args.prefix


@command("kernel install")
def kernel_install(args) -> int:
    from workbench import jupyter_kernel

    prefix = _kernel_prefix(args)
    registration = jupyter_kernel.install(args.name, prefix=prefix, display_name=args.display_name,
                                          data=jupyter_kernel.resolve_data(args.data), quick=args.quick)
    print(f"Installed Jupyter kernel {registration.name!r} (\"{registration.display_name}\") in "
          f"{registration.resource_dir}")
    print(f"  python: {registration.python}")
    print(f"  env:    {registration.env_text}")
    if prefix is not None and not jupyter_kernel.searched(registration.resource_dir.parent):
        share = registration.resource_dir.parent.parent
        print(f"A Jupyter looks for kernels in {share} only when it is installed in {share.parent.parent} "
              f"or JUPYTER_PATH names the directory: export JUPYTER_PATH={share}")
    first = jupyter_kernel.installed(registration.name)
    hidden = first is not None and not jupyter_kernel.same_directory(first.resource_dir,
                                                                      registration.resource_dir)
    if hidden and (first.problem() or first.env != registration.env):
        print(f"note: Jupyter run from this environment finds {registration.name!r} in {first.resource_dir} "
              f"first and starts that one ({first.problem() or 'env: ' + first.env_text}); remove it with "
              f"`{first.remove_command()}` if it is not the one you want.")
    print(f"In JupyterLab: {jupyter_kernel.CHANGE_KERNEL} → \"{registration.display_name}\" "
          "(reload the page if it is not listed yet).")
    if registration.name == jupyter_kernel.KERNEL_NAME:
        print("The notebooks in notebooks/ ask for this kernel by name and open with it.")
    else:
        print(f"The notebooks ask for {jupyter_kernel.KERNEL_NAME!r}; choose this one in each with "
              f"{jupyter_kernel.CHANGE_KERNEL}")
    return 0


@command("kernel remove")
def kernel_remove(args) -> int:
    from workbench import jupyter_kernel

    removed = jupyter_kernel.remove(args.name, prefix=_kernel_prefix(args))
    print(f"Removed Jupyter kernel {removed.name!r} from {removed.parent}")
    return 0


# --------------------------------------------------------------------------- doctor


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpus() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{usable} usable of {os.cpu_count()}"


def _horovod_build() -> str:
    """Horovod's version and what it was built with, or how to build it."""
    if _version("horovod") == "not installed":
        return "not installed (build it with scripts/build_horovod.sh)"
    try:
        import horovod.tensorflow as hvd
    except ImportError as error:
        return f"{_version('horovod')} installed but broken: {error}; rebuild with scripts/build_horovod.sh"
    built = [name for name, check in (("gloo", hvd.gloo_built), ("mpi", hvd.mpi_built),
                                      ("nccl", hvd.nccl_built)) if check()]
    return f"{_version('horovod')} (tensorflow ops; built with {', '.join(built) or 'no controller'})"


def _kernel_rows() -> list[tuple[str, str]]:
    """Where the workbench's Jupyter kernel is registered and whether it starts this environment.

    A missing or stale kernel does not fail ``doctor``: labs run as scripts and batch jobs need
    none. Each bad case names the command that fixes it.
    """
    from workbench import jupyter_kernel

    name = jupyter_kernel.KERNEL_NAME
    if _version("jupyter_client") == "not installed" or _version("ipykernel") == "not installed":
        return [("jupyter kernel", "cannot check: jupyter_client/ipykernel not installed "
                                   "(pip install -e '.[labs]')")]
    found = jupyter_kernel.installed(name)
    if found is None:
        return [("jupyter kernel", f"{name} not installed; fix: workbench kernel install --user "
                                   "(a JupyterLab or JupyterHub in another environment cannot run the labs "
                                   "without it)")]
    problem = found.problem()
    python = f"{found.python} (this environment)" if problem is None else f"{problem}; fix: {found.fix()}"
    rows = [("jupyter kernel", f"{name} in {found.resource_dir}"), ("kernel python", python),
            ("kernel env", found.env_text)]
    # A JupyterLab in another environment (a hub's) searches the user's directory first, so a bad
    # registration hidden here behind a good one can still be the one it starts.
    for other in jupyter_kernel.registrations(name)[1:]:
        trouble = other.problem()
        rows.append(("also registered", f"{other.resource_dir}: " + (
            "this environment" if trouble is None else f"{trouble}; fix: {other.fix()}")))
    return rows


@command("doctor")
def doctor(args) -> int:
    """Report what a lab needs: versions, devices, the Jupyter kernel, staged data, TensorBoard plugins."""
    from workbench import settings
    from workbench.data import store

    rows = [("python", platform.python_version()), ("workbench", _version("workbench")),
            ("CPUs", _cpus())]
    tf_package = next((p for p in ("tensorflow", "tensorflow-cpu") if _version(p) != "not installed"),
                      None)
    rows.append(("tensorflow", f"{_version(tf_package)} ({tf_package})" if tf_package else "not installed"))
    rows.append(("keras", _version("keras")))
    if tf_package:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        rows.append(("GPUs", ", ".join(g.name for g in gpus) if gpus else "none visible"))
        rows.append(("built with CUDA", str(tf.test.is_built_with_cuda())))
    rows.append(("horovod", _horovod_build()))
    for package in ("tensorboard", "tensorboard-plugin-profile", "matplotlib", "jupyterlab"):
        rows.append((package, _version(package)))
    rows += _kernel_rows()
    staged = settings.data_dir()
    rows.append(("WORKBENCH_DATA", str(staged) if staged else "not set"))
    rows.append(("offline", str(settings.offline())))
    for key, value in rows:
        print(f"{key:28s} {value}")
    print("data:")
    for report in store.verify(staged or settings.download_dir()):
        print(f"  {report.name:14s} {report.status:8s} {report.detail}")
    missing = [k for k, v in rows if v == "not installed" and k in ("keras", "tensorboard")]
    if not tf_package or missing:
        print("fix: run `./workshop setup` (or `pip install -e '.[cpu,labs]'`) to install the stack.",
              file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from workbench.grading.sandbox import Limits
    from workbench.jupyter_kernel import DISPLAY_NAME, KERNEL_NAME

    parser = argparse.ArgumentParser(prog="workbench", description=(
        "Keras HPC workshop workbench: data staging, environment checks, notebooks and grading."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="list, fetch or verify datasets").add_subparsers(
        dest="data_command", metavar="ACTION", required=True)
    fetch = data.add_parser("fetch", help="download datasets from their official sources")
    fetch.add_argument("names", nargs="*", help="datasets (default: all)")
    fetch.add_argument("--dir", help="target directory (default $WORKBENCH_DATA or ~/.cache/workbench/data)")
    fetch.add_argument("--retries", type=int, default=3)
    fetch.set_defaults(handler="data fetch")
    verify = data.add_parser("verify", help="check staged datasets: OK / missing / corrupt")
    verify.add_argument("names", nargs="*", help="datasets (default: all)")
    verify.add_argument("--dir", help="directory to check (default $WORKBENCH_DATA)")
    verify.set_defaults(handler="data verify")
    data.add_parser("list", help="the dataset registry").set_defaults(handler="data list")

    notebooks = sub.add_parser("notebooks", help="participant notebooks").add_subparsers(
        dest="nb_command", metavar="ACTION", required=True)
    gen = notebooks.add_parser("generate", help="write notebooks/ from solutions/")
    gen.add_argument("--solutions", default="solutions")
    gen.add_argument("--notebooks", default="notebooks")
    gen.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    gen.set_defaults(handler="notebooks generate")
    course = notebooks.add_parser("nbgrader", help="write an nbgrader course directory from solutions/")
    course.add_argument("course", help="the course directory (nbgrader_config.py, source/<lab>/)")
    course.add_argument("--labs", nargs="+", help="lab numbers or names (default: all)")
    course.add_argument("--solutions", default="solutions")
    course.add_argument("--cell-seconds", type=int, default=600, help="nbgrader's per-cell timeout")
    course.set_defaults(handler="notebooks nbgrader")

    grade_cmd = sub.add_parser(
        "grade", help="grade a class's submissions of one lab into a CSV gradebook",
        description="Runs each submission in its own sandbox (bubblewrap) under limits, with the checks "
                    "and hidden tests of the instructor's notebook in solutions/, and writes the "
                    "gradebook, one feedback file per participant and one result file per participant.")
    grade_cmd.add_argument("submissions", help="folder of <participant>/<lab>.ipynb (or nbgrader's "
                                               "<participant>/<lab>/<lab>.ipynb)")
    grade_cmd.add_argument("--lab", required=True, help="lab number or name, e.g. 01 or 01_mnist_dense")
    grade_cmd.add_argument("--solutions", default="solutions", help="the instructor's notebooks")
    grade_cmd.add_argument("--gradebook", default="gradebook.csv")
    grade_cmd.add_argument("--results", help="per-participant results (default: results-<lab>/ beside "
                                             "the gradebook)")
    grade_cmd.add_argument("--feedback",
                           help="feedback files (default: feedback-<lab>/ beside the gradebook)")
    grade_cmd.add_argument("--only", nargs="+", metavar="PARTICIPANT",
                           help="re-grade only these; the others' saved results are kept")
    grade_cmd.add_argument("--shard", metavar="I/N", help="grade every N-th participant from the I-th "
                                                          "(a SLURM array task); results only")
    grade_cmd.add_argument("--merge", action="store_true",
                           help="grade nobody; write the gradebook from the saved results")
    grade_cmd.add_argument("--workers", type=int, default=1, help="submissions graded at once")
    grade_cmd.add_argument("--full", action="store_true", help="run with full data (default: quick mode)")
    grade_cmd.add_argument("--cell-seconds", type=int, default=Limits.cell_seconds, help="limit per cell")
    grade_cmd.add_argument("--notebook-seconds", type=int, default=Limits.notebook_seconds,
                           help="limit per notebook")
    grade_cmd.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory per process")
    grade_cmd.add_argument("--processes", type=int, default=Limits.processes,
                           help="processes and threads per submission")
    grade_cmd.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap",
                           help="none: no isolation, only for notebooks you trust (your own solutions)")
    grade_cmd.set_defaults(handler="grade")

    sweep_cmd = sub.add_parser(
        "sweep", help="grid sweeps: run all points, summarise them, or one point's flags",
        description="lab/count/args FILE [INDEX]: what a sweep file holds (the array job uses these); "
                    "run FILE [--run-name N] [-- lab options]: every point, one after the other; "
                    "summary DIR: the best runs of a finished sweep as a table.")
    sweep_cmd.add_argument("what", choices=["lab", "count", "args", "run", "summary"])
    sweep_cmd.add_argument("file", help="sweep TOML file (e.g. sweeps/06_hparams.toml); for summary, "
                                        "the sweep's run directory")
    sweep_cmd.add_argument("index", type=int, nargs="?", default=0, help="grid point (for `args`)")
    sweep_cmd.add_argument("--run-name", help="run: name of the sweep directory (default: time stamp)")
    sweep_cmd.add_argument("--metric", default="test_accuracy", help="run/summary: sort by this result")
    sweep_cmd.add_argument("--top", type=int, help="summary: show only the best N")
    sweep_cmd.set_defaults(handler="sweep")

    board_cmd = sub.add_parser("board", help="TensorBoard on a free port, with the ssh-tunnel line")
    board_cmd.add_argument("logdir", nargs="?", default=None,
                           help="directory of runs (default $WORKBENCH_LOGS or ./logs)")
    board_cmd.add_argument("--host", default="127.0.0.1",
                           help="address to bind (default 127.0.0.1; on a compute node its hostname)")
    board_cmd.add_argument("--port", type=int, default=0, help="default: a free port")
    board_cmd.set_defaults(handler="board")

    kernel = sub.add_parser(
        "kernel", help="register this environment as a Jupyter kernel (JupyterLab, JupyterHub)",
        description=f"The notebooks ask for the kernel {KERNEL_NAME!r}. On a JupyterHub, JupyterLab runs "
                    "in the site's environment; registering this environment's python under that name "
                    "lets it run the labs.").add_subparsers(dest="kernel_command", metavar="ACTION",
                                                            required=True)
    for action, help_text in (("install", "register (or re-register) the kernel"),
                              ("remove", "delete a registration made by `workbench kernel install`")):
        kernel_cmd = kernel.add_parser(action, help=help_text)
        where = kernel_cmd.add_mutually_exclusive_group()
        where.add_argument("--user", action="store_true",
                           help="for you, in $JUPYTER_DATA_DIR or ~/.local/share/jupyter (the default): "
                                "every JupyterLab you start finds it")
        where.add_argument("--sys-prefix", dest="prefix", action="store_const", const=sys.prefix,
                           help=f"in this environment ({sys.prefix}): for Jupyter run from it")
        where.add_argument("--prefix", metavar="DIR",
                           help="in DIR/share/jupyter: for a Jupyter installed in DIR (a site's hub "
                                "environment) or with DIR/share/jupyter in JUPYTER_PATH")
        kernel_cmd.add_argument("--name", default=KERNEL_NAME,
                                help=f"kernel name (default {KERNEL_NAME}, the one the notebooks ask for)")
        kernel_cmd.set_defaults(handler=f"kernel {action}")
        if action == "install":
            kernel_cmd.add_argument("--display-name",
                                    help=f"what JupyterLab shows (default: {DISPLAY_NAME!r})")
            kernel_cmd.add_argument("--data", metavar="DIR",
                                    help="staged datasets the kernel uses (default: $WORKBENCH_DATA if set)")
            kernel_cmd.add_argument("--quick", action=argparse.BooleanOptionalAction, default=None,
                                    help="set WORKBENCH_QUICK=1 (or 0) in the kernel (default: inherit)")

    sub.add_parser("doctor", help="versions, devices, Jupyter kernel, staged data, TensorBoard "
                                  "plugins").set_defaults(handler="doctor")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    lab_args = []  # options after `--` go to the lab (`workbench sweep run FILE -- --epochs 1`)
    if "--" in argv:
        cut = argv.index("--")
        argv, lab_args = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    args.lab_args = lab_args
    from workbench.errors import WorkbenchError

    try:
        return COMMANDS[args.handler](args)
    except (WorkbenchError, KeyError, ValueError, FileNotFoundError, RuntimeError, TimeoutError) as error:
        # Registry misses and bad input carry messages written for users; no traceback needed.
        print(f"workbench: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
