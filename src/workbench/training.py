"""Training plumbing shared by notebooks and batch labs: seeding, compiling, callbacks, runs.

Notebooks keep ``model.compile`` and ``model.fit`` visible and take only ``callbacks(run_dir)``
from here; the batch scripts call ``run_lab``, which does the whole load-build-fit-evaluate cycle
from a recipe and writes everything a run produces under one per-user, per-run directory::

    <run_dir>/tensorboard/      TensorBoard event files (train/ and validation/ runs)
    <run_dir>/history.csv       one line per epoch (CSVLogger)
    <run_dir>/checkpoints/      last.keras, rewritten at the end of every epoch
    <run_dir>/result.json       final test metrics and the settings used
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from workbench import distribute, preemption, recipes, settings, summaries


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic.

    Determinism costs speed, so it is opt-in: a requeued job that must end with the same weights
    as an uninterrupted one needs it; a participant exploring does not.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def lecture_optimizer(learning_rate=0.01):
    """The lecture's optimizer: SGD, learning rate 0.01, momentum 0.9 (``lr=`` is gone in Keras 3).

    Data-parallel runs pass a scaled rate or a warm-up schedule instead of 0.01.
    """
    import keras

    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)


def sgd(learning_rate=0.01):
    import keras

    return keras.optimizers.SGD(learning_rate=learning_rate)


def adam(learning_rate=0.001):
    import keras

    return keras.optimizers.Adam(learning_rate=learning_rate)


# --optimizer name -> (builder taking a learning rate or schedule, its base learning rate).
# "sgd" and "adam" are Keras' defaults, as in TensorBoard's HParams tutorial the lecture shows.
OPTIMIZERS = {"lecture": (lecture_optimizer, 0.01), "sgd": (sgd, 0.01), "adam": (adam, 0.001)}


def compile_classifier(model, optimizer=None):
    """Compile as the lecture does: softmax outputs, integer labels, accuracy."""
    model.compile(
        optimizer=optimizer or lecture_optimizer(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def callbacks(run_dir: Path | str, *, histogram_freq: int = 0, checkpoint: bool = True,
              append: bool = False) -> list:
    """TensorBoard (scalars, graph, histograms every ``histogram_freq`` epochs), a CSV log and a
    per-epoch checkpoint, all under ``run_dir``."""
    import keras

    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    chosen = [
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), histogram_freq=histogram_freq,
                                    write_graph=True),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=append),
    ]
    if checkpoint:
        chosen.append(keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "last.keras")))
    return chosen


def prepare_images(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], reshaped to the model's input (adds the channel axis)."""
    return (x.astype("float32") / 255.0).reshape((len(x),) + tuple(input_shape))


# --------------------------------------------------------------------------- batch labs


def lab_parser(recipe: recipes.LabRecipe) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"labs/{recipe.lab}.py",
        description=f"Lab {recipe.lab}: {recipe.title} (batch version of notebooks/{recipe.lab}.ipynb).",
        epilog="Settings: defaults < --config file (TOML) < environment (WORKBENCH_*) < flags.",
    )
    parser.add_argument("--config", type=Path, help="TOML file with any of the options below")
    parser.add_argument("--model", choices=recipe.models, help=f"default {recipe.models[0]}")
    parser.add_argument("--epochs", type=int,
                        help=f"default {recipe.epochs} ({settings.QUICK_EPOCHS} in quick mode)")
    parser.add_argument("--batch-size", type=int, help=f"default {recipe.batch_size}")
    parser.add_argument("--data-dir", type=Path, help="staged datasets (default $WORKBENCH_DATA)")
    parser.add_argument("--log-dir", type=Path,
                        help="root of run directories (default $WORKBENCH_LOGS or ./logs)")
    parser.add_argument("--run-name", help="run directory name (default: job id or time stamp)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--deterministic", action="store_true", default=None,
                        help="deterministic TensorFlow ops (slower; same weights on every run)")
    parser.add_argument("--strategy", choices=sorted(distribute.STRATEGIES),
                        help="data parallelism: default (one device), mirrored (all local GPUs), "
                             "multiworker (one worker per SLURM task), horovod (one rank per task)")
    parser.add_argument("--cpu-replicas", type=int,
                        help="mirrored without GPUs: split the CPU into this many logical devices")
    parser.add_argument("--warmup-epochs", type=float,
                        help="ramp the scaled learning rate up over this many epochs (default 1)")
    parser.add_argument("--require-gpu", action="store_true", default=None,
                        help="stop with an error if TensorFlow sees no GPU")
    parser.add_argument("--dump-weights", type=Path,
                        help="each rank saves its final weights to DIR/rank<N>.npz (to compare ranks)")
    parser.add_argument("--quick", action="store_true", default=None,
                        help="small deterministic subset and few epochs (also WORKBENCH_QUICK=1)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS),
                        help=f"default {recipe.optimizer} (lecture: SGD 0.01 with momentum 0.9)")
    for name, (kind, default, text) in recipe.hparams.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{text} (default {default})")
    parser.add_argument("--histogram-freq", type=int,
                        help="weight histograms every N epochs in TensorBoard (default 1; 0: none)")
    parser.add_argument("--profile-steps", help="trace these training steps for the profiler, e.g. 5,10")
    parser.add_argument("--sweep", type=Path, help="sweep TOML file (sweeps/): run one of its grid points")
    parser.add_argument("--point", type=int, help="with --sweep: which grid point (0-based)")
    return parser


def resolve_options(recipe: recipes.LabRecipe, argv: list[str] | None) -> dict:
    """Merge defaults < config file < environment < flags into one dict of settings."""
    args = lab_parser(recipe).parse_args(argv)
    options = {
        "model": recipe.models[0], "epochs": recipe.epochs, "batch_size": recipe.batch_size,
        "data_dir": None, "log_dir": None, "run_name": None, "seed": 0,
        "deterministic": False, "quick": False, "strategy": "default", "cpu_replicas": 0,
        "warmup_epochs": 1.0, "require_gpu": False, "dump_weights": None,
        "optimizer": recipe.optimizer, "histogram_freq": 1, "profile_steps": None,
        "sweep": None, "point": None,
        **{name: default for name, (_, default, _) in recipe.hparams.items()},
    }
    if args.config is not None:
        options.update(_read_config(args.config, allowed=set(options)))
    if args.sweep is not None:
        options["hparams"] = _sweep_point(recipe, args.sweep, args.point, allowed=set(options))
        options.update(options["hparams"])
    env = {"data_dir": settings.data_dir(), "log_dir": os.environ.get("WORKBENCH_LOGS"),
           "quick": settings.quick_mode() or None}
    options.update({key: value for key, value in env.items() if value is not None})
    flags = {key: value for key, value in vars(args).items() if key != "config" and value is not None}
    options.update(flags)
    if options["quick"] and "epochs" not in flags:
        options["epochs"] = min(settings.QUICK_EPOCHS, recipe.epochs)
    if options["model"] not in recipe.models:
        raise SystemExit(f"--model {options['model']!r} is not part of lab {recipe.lab}; "
                         f"choose one of: {', '.join(recipe.models)}")
    return options


def _sweep_point(recipe: recipes.LabRecipe, path: Path, index: int | None, allowed: set[str]) -> dict:
    """Grid point ``index`` of the sweep file as lab options (``batch-size`` -> ``batch_size``)."""
    from workbench import sweep

    if index is None:
        raise SystemExit("--sweep needs --point N (the grid point to run; `workbench sweep count FILE`)")
    try:
        spec = sweep.load(path)
        values = sweep.point(spec, index)
    except sweep.SweepError as error:
        raise SystemExit(str(error)) from None
    if spec["lab"] != recipe.lab:
        raise SystemExit(f"sweep file {path} is for lab {spec['lab']}, not {recipe.lab}: run it with "
                         f"labs/{spec['lab']}.py (or `workbench sweep run {path}`)")
    point = {key.replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(point) - allowed)
    if unknown:
        raise SystemExit(f"sweep file {path}: lab {recipe.lab} has no option(s) {', '.join(unknown)}")
    return point


def _read_config(path: Path, allowed: set[str]) -> dict:
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise SystemExit(f"config file {path} does not exist; pass an existing TOML file to --config") \
            from None
    except tomllib.TOMLDecodeError as error:
        raise SystemExit(f"config file {path} is not valid TOML: {error}") from None
    normalised = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(normalised) - allowed)
    if unknown:
        raise SystemExit(f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(allowed))}")
    return normalised


def run_lab(lab: str, argv: list[str] | None = None) -> dict:
    """Load data, build, compile, train and evaluate one lab as a batch job; return the result.

    The same code runs on one device and data-parallel (``--strategy``): the model is built in
    the strategy's scope, the learning rate follows the linear scaling rule with warm-up, the
    strategy's trainer runs the epochs, and only rank 0 prints, logs and checkpoints.
    """
    from workbench import data, models, trainers

    preemption.install_handler()
    recipe = recipes.get(lab)
    options = resolve_options(recipe, argv)
    try:
        dist = distribute.get(options["strategy"], require_gpu=options["require_gpu"],
                              cpu_replicas=options["cpu_replicas"])
    except distribute.DistributionError as error:
        raise SystemExit(f"[{lab}] {error}") from None
    seed_everything(options["seed"], options["deterministic"])

    (x_train, y_train), (x_test, y_test) = data.load(
        recipe.dataset, quick=options["quick"], data_dir=options["data_dir"])
    with dist.scope():
        model = models.build(options["model"], **{name: options[name] for name in recipe.hparams})
        input_shape = tuple(model.input_shape[1:])
        steps_per_epoch = max(len(x_train) // dist.global_batch(options["batch_size"]), 1)
        make_optimizer, base_rate = OPTIMIZERS[options["optimizer"]]
        rate = distribute.warmup_schedule(base_rate, dist.replicas,
                                          int(options["warmup_epochs"] * steps_per_epoch))
        compile_classifier(model, trainers.prepare_optimizer(dist, make_optimizer(rate)))
        model.optimizer.build(model.trainable_variables)  # its state is restored on resume
    x_train, x_test = prepare_images(x_train, input_shape), prepare_images(x_test, input_shape)

    run_dir = lab_run_dir(lab, options)
    say = print if dist.is_chief else _silent
    say(f"[{lab}] model {options['model']} ({model.count_params():,} parameters), "
        f"{len(x_train)} train / {len(x_test)} test images, {options['epochs']} epochs, "
        f"batch {options['batch_size']} x {dist.replicas} replica(s), strategy {dist.name}; "
        f"run directory {run_dir}", flush=True)
    started = time.time()
    first_epoch = preemption.epochs_done(run_dir)
    if first_epoch:
        say(f"[{lab}] resuming after epoch {first_epoch} from {preemption.backup_file(run_dir)}", flush=True)
    try:
        trainers.TRAINERS[dist.name](
            dist, model, x_train, y_train, epochs=options["epochs"], batch_size=options["batch_size"],
            validation_data=(x_test, y_test),
            callbacks=[preemption.epoch_backup(run_dir, is_chief=dist.is_chief),
                       *rank_callbacks(dist, run_dir, append=first_epoch > 0,
                                       histogram_freq=options["histogram_freq"]),
                       *(summary_callbacks(recipe, options, run_dir, x_test, y_test) if dist.is_chief
                         else [])],
            verbose=2, seed=options["seed"], initial_epoch=first_epoch)
    except preemption.Preempted:
        say(f"[{lab}] stopped by SIGUSR1 after epoch {preemption.epochs_done(run_dir)}; the next run "
            f"with --run-name {run_dir.name} (a requeued job) resumes from there", flush=True)
        return {"preempted": True, "run_dir": str(run_dir)}
    test_loss, test_accuracy = trainers.evaluate(model, x_test, y_test)
    if dist.is_chief:
        summaries.write_test_metrics(run_dir / "tensorboard", {"test_accuracy": test_accuracy,
                                                               "test_loss": test_loss}, options["epochs"])
    if options["dump_weights"] is not None:
        dump_weights(model, options["dump_weights"] / f"rank{dist.rank}.npz")
    result = {
        "lab": lab, "model": options["model"], "test_accuracy": test_accuracy,
        "test_loss": test_loss, "epochs": options["epochs"], "strategy": dist.name,
        "replicas": dist.replicas, "batch_size": options["batch_size"], "seed": options["seed"],
        "quick": options["quick"], "train_samples": len(x_train),
        "seconds": round(time.time() - started, 1), "run_dir": str(run_dir),
        "optimizer": options["optimizer"], **{name: options[name] for name in recipe.hparams},
        "hparams": options.get("hparams", {}),
    }
    if dist.is_chief:
        (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        _report(recipe, result, run_dir)
    return result


def lab_run_dir(lab: str, options: dict) -> Path:
    """``<logs>/<user>/<lab>-<model>/<run>``, or for a sweep point
    ``<logs>/<user>/sweep-<name>/<sweep run>/pNN-<values>``: all points of one sweep (all tasks of
    one array job) under one directory, which is what TensorBoard's HParams tab is pointed at."""
    if options["sweep"] is None:
        return settings.run_dir(f"{lab}-{options['model']}", options["log_dir"], options["run_name"])
    root = settings.sweep_dir(options["sweep"], options["log_dir"], options["run_name"])
    values = "-".join(f"{key}{value}" for key, value in sorted(options["hparams"].items()))
    return root / f"p{options['point']:02d}-{settings.safe_name(values)}"


def summary_callbacks(recipe: recipes.LabRecipe, options: dict, run_dir: Path, x_test, y_test) -> list:
    """Rank 0's extra TensorBoard summaries: sample images, the HParams session, a profile."""
    from workbench import data, sweep

    board = run_dir / "tensorboard"
    chosen = [summaries.image_samples(board, x_test, y_test, data.class_names(recipe.dataset)),
              summaries.op_graph(board, x_test)]
    if options["sweep"] is not None:
        summaries.write_experiment(run_dir.parent, sweep.load(options["sweep"])["grid"])
        chosen.append(summaries.hparams_callback(board, options["hparams"], trial_id=run_dir.name))
    if options["profile_steps"]:
        try:
            first, last = (int(step) for step in str(options["profile_steps"]).split(","))
        except ValueError:
            raise SystemExit(f"--profile-steps {options['profile_steps']!r}: give two step numbers, "
                             "e.g. --profile-steps 5,10") from None
        chosen.append(summaries.profile_steps(board, first, last))
    return chosen


def _silent(*_args, **_kwargs) -> None:
    pass


def rank_callbacks(dist, run_dir: Path, append: bool = False, histogram_freq: int = 0) -> list:
    """Rank 0 logs and checkpoints into the run directory.

    Under MultiWorkerMirroredStrategy every worker must take part in saving (reading a
    batch-norm statistic is a collective operation), so the others write to a scratch folder
    inside the run directory that nobody reads; other strategies give them no callbacks at all.
    """
    if dist.is_chief:
        return callbacks(run_dir, append=append, histogram_freq=histogram_freq)
    if dist.name == "multiworker":
        return callbacks(run_dir / "scratch" / f"worker{dist.rank}", histogram_freq=histogram_freq)
    return []


def dump_weights(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, *[np.asarray(w) for w in model.get_weights()])


def _report(recipe: recipes.LabRecipe, result: dict, run_dir: Path) -> None:
    print(f"[{recipe.lab}] test accuracy {result['test_accuracy']:.4f} after {result['epochs']} "
          f"epoch(s) in {result['seconds']} s")
    if recipe.lecture and result["model"] == recipe.models[0]:
        print(f"[{recipe.lab}] lecture: val_accuracy {recipe.lecture['val_accuracy']:.4f} after "
              f"{recipe.lecture['epochs']} epochs, batch {recipe.lecture['batch_size']}")
    print(f"[{recipe.lab}] TensorBoard logs: {run_dir / 'tensorboard'}")
    print(f"[{recipe.lab}] view them with: workbench board {run_dir / 'tensorboard'}")
    sys.stdout.flush()
