"""Lab options, each declared once (name, type, default, help), and how their layers merge.

A batch lab's command line, its ``--config`` file and a sweep's grid point all read the same
declarations, so a new option is one ``Option`` here (or in a recipe's ``hparams``, or in a task's
``options``) and nothing else. Layers, later ones winning:

    defaults < --config file (TOML) < sweep point < environment (WORKBENCH_*) < flags

Bad input raises ``OptionError`` naming the option and the fix; ``driver.main`` prints it.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path

from workbench import settings
from workbench.errors import OptionError


@dataclass(frozen=True)
class Option:
    name: str  # the Python name; the flag is --name-with-dashes
    kind: type | None  # None: a yes/no switch
    default: object
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def coerce(self, value, where: str):
        """A value from a config file or sweep point, converted to this option's type."""
        if self.kind is None:
            if not isinstance(value, bool):
                raise OptionError(f"{where}: {self.name} = {value!r} must be true or false")
            return value
        try:
            converted = self.kind(value)
        except (TypeError, ValueError):
            raise OptionError(f"{where}: {self.name} = {value!r}, expected a value of type "
                              f"{self.kind.__name__}") from None
        if self.choices is not None and converted not in self.choices:
            raise OptionError(f"{where}: {self.name} = {value!r}; choose one of: {', '.join(self.choices)}")
        return converted


def lab_options(recipe) -> list[Option]:
    """Every option of ``recipe``'s lab: the common ones, its model knobs, its task's settings."""
    from workbench import speed, strategies, training

    return [
        Option("model", str, recipe.models[0], "which of this lab's models to train", recipe.models),
        Option("dataset", str, recipe.dataset, "the data to train on", (recipe.dataset, *recipe.also_on)),
        Option("epochs", int, recipe.epochs,
               f"epochs to train (default {recipe.epochs}; {settings.QUICK_EPOCHS} in quick mode)"),
        Option("batch_size", int, recipe.batch_size, "samples per step and replica"),
        Option("optimizer", str, recipe.optimizer,
               "lecture: SGD 0.01 with momentum 0.9; sgd, adam: Keras' defaults", tuple(training.OPTIMIZERS)),
        Option("learning_rate", float, None,
               "the optimizer's learning rate on one device (default: --optimizer's own, 0.01 for lecture "
               "and sgd, 0.001 for adam); data-parallel runs scale it by the number of replicas"),
        Option("clip_norm", float, recipe.clip_norm,
               "gradient norm clipping (lecture 002): scale the whole gradient down to this norm when it "
               "is longer (Keras' global_clipnorm); 0: no clipping"),
        Option("data_dir", Path, None, "staged datasets (default $WORKBENCH_DATA)"),
        Option("log_dir", Path, None, "root of run directories (default $WORKBENCH_LOGS or ./logs)"),
        Option("run_name", str, None, "run directory name (default: job id or time stamp); the same name "
                                      "resumes a stopped run"),
        Option("seed", int, 0, "random seed"),
        Option("deterministic", None, False, "deterministic TensorFlow ops (slower; same weights every run)"),
        Option("quick", None, False, "small deterministic subset and few epochs (also WORKBENCH_QUICK=1)"),
        Option("train_samples", int, None, "train on a deterministic subset of this many samples (default: "
                                           "all, or quick mode's subset; the test set is unchanged)"),
        Option("strategy", str, "default",
               "data parallelism: default (one device), mirrored (all local GPUs), multiworker (one worker "
               "per SLURM task), horovod (one rank per task)", tuple(strategies.STRATEGIES)),
        Option("cpu_replicas", int, 0, "mirrored without GPUs: split the CPU into this many logical devices"),
        Option("warmup_epochs", float, 1.0, "ramp the scaled learning rate up over this many epochs"),
        Option("schedule", str, "constant", "learning rate after the warm-up: constant, or cosine (decays to "
                                            "zero at the last epoch)", ("constant", "cosine")),
        Option("steps_per_execution", int, None,
               "training steps per call into the compiled graph; it must divide the epoch's steps (default: "
               f"the largest divisor up to {speed.STEPS_PER_EXECUTION}; 1 under mirrored and multiworker and "
               "with --profile-steps); the weights are the same"),
        Option("precision", str, "float32", "float32; mixed_bfloat16 or mixed_float16 (last layer in "
                                            "float32); auto: bfloat16 where the hardware has it",
               speed.PRECISIONS),
        Option("jit_compile", str, "auto", "XLA: auto (Keras' rule: on GPUs, not on CPUs), on, off",
               tuple(speed.JIT_COMPILE)),
        Option("fast", None, False, "the lab's fast recipe (larger batch, cosine schedule, auto precision, "
                                    "fewer epochs): the lecture's accuracy in less time, not the lecture's "
                                    "settings; flags given with it still win"),
        Option("require_gpu", None, False, "stop with an error if TensorFlow sees no GPU"),
        Option("dump_weights", Path, None, "each rank saves its final weights to DIR/rank<N>.npz"),
        Option("histogram_freq", int, 1, "weight histograms every N epochs in TensorBoard (0: none)"),
        Option("profile_steps", str, None, "trace these training steps for the profiler, e.g. 5,10"),
        Option("sweep", Path, None, "sweep TOML file (sweeps/): run one of its grid points"),
        Option("point", int, None, "with --sweep: which grid point (0-based)"),
        *recipe.hparams,
        *recipe.task_class.options,
    ]


def parser(recipe, declared: list[Option]) -> argparse.ArgumentParser:
    """The lab's command line; every flag defaults to None so that given flags can be told apart."""
    made = argparse.ArgumentParser(
        prog=f"labs/{recipe.lab}.py",
        description=f"Lab {recipe.lab}: {recipe.title} (batch version of notebooks/{recipe.lab}.ipynb).",
        epilog="Settings: defaults < --config file (TOML) < sweep point < environment (WORKBENCH_*) < flags.",
    )
    made.add_argument("--config", type=Path, help="TOML file with any of the options below")
    for option in declared:
        shown = "" if option.default in (None, False) else f" (default {option.default})"
        if option.kind is None:
            made.add_argument(option.flag, action="store_true", default=None, help=option.help)
        else:
            made.add_argument(option.flag, type=option.kind, choices=option.choices, default=None,
                              help=option.help + shown)
    return made


def resolve(recipe, argv: list[str] | None) -> dict:
    """Merge defaults < (--fast recipe) < config file < sweep point < environment < flags into one
    dict of settings. The fast recipe replaces defaults only: anything the user chose wins."""
    declared = lab_options(recipe)
    by_name = {option.name: option for option in declared}
    args = parser(recipe, declared).parse_args(argv)
    values = {option.name: option.default for option in declared}
    values["hparams"] = {}
    chosen: dict = {}  # everything set above the defaults, in order
    if args.config is not None:
        chosen.update(read_config(args.config, by_name))
    if args.sweep is not None:
        values["hparams"] = sweep_point(recipe, args.sweep, args.point, by_name)
        chosen.update(values["hparams"])
    chosen.update(settings.lab_environment())
    flags = {key: value for key, value in vars(args).items() if key != "config" and value is not None}
    chosen.update(flags)
    if chosen.get("fast"):
        if not recipe.fast:
            raise OptionError(f"--fast: lab {recipe.lab} has no fast recipe (labs with one: "
                              f"{', '.join(fast_labs())}); leave --fast out")
        values.update(recipe.fast)
    values.update(chosen)
    if values["quick"] and "epochs" not in flags:
        values["epochs"] = min(settings.QUICK_EPOCHS, values["epochs"])
    return values


def fast_labs() -> list[str]:
    from workbench import recipes

    return [lab for lab, recipe in recipes.RECIPES.items() if recipe.fast]


def read_config(path: Path, by_name: dict[str, Option]) -> dict:
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise OptionError(f"config file {path} does not exist; pass an existing TOML file to --config") \
            from None
    except tomllib.TOMLDecodeError as error:
        raise OptionError(f"config file {path} is not valid TOML: {error}") from None
    normalised = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(normalised) - set(by_name))
    if unknown:
        raise OptionError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(by_name))}")
    return {key: by_name[key].coerce(value, f"config file {path}") for key, value in normalised.items()}


def sweep_point(recipe, path: Path, index: int | None, by_name: dict[str, Option]) -> dict:
    """Grid point ``index`` of the sweep file as lab options (``batch-size`` -> ``batch_size``)."""
    from workbench import sweep

    if index is None:
        raise OptionError("--sweep needs --point N (the grid point to run; `workbench sweep count FILE`)")
    spec = sweep.load(path)
    values = sweep.point(spec, index)
    if spec["lab"] != recipe.lab:
        raise OptionError(f"sweep file {path} is for lab {spec['lab']}, not {recipe.lab}: run it with "
                          f"labs/{spec['lab']}.py (or `workbench sweep run {path}`)")
    point = {key.replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(point) - set(by_name))
    if unknown:
        raise OptionError(f"sweep file {path}: lab {recipe.lab} has no option(s) {', '.join(unknown)}")
    return {key: by_name[key].coerce(value, f"sweep file {path}") for key, value in point.items()}
