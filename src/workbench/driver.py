"""The batch driver behind every ``labs/NN_name.py``: options -> data -> model -> train -> evaluate -> report.

``run_lab`` reads as the story of one run; each step asks the object that knows: the recipe says
what the lab is, the *task* (``workbench.tasks``) how its data become inputs and targets, how it
is compiled and judged, the *strategy* (``workbench.strategies``) how it is set up and trained on
one device or many. A new lab is a recipe, its model builders and its notebook; nothing here
changes. Everything a run writes goes under one per-user, per-run directory::

    <run_dir>/tensorboard/      TensorBoard event files (train/ and validation/ runs, images, graph)
    <run_dir>/history.csv       one line per epoch (CSVLogger)
    <run_dir>/checkpoints/      last.keras, rewritten at the end of every epoch
    <run_dir>/backup/state.npz  every variable after the last finished epoch (resume after requeue)
    <run_dir>/result.json       final test metrics and the settings used

``main`` is the command line: a ``WorkbenchError`` (missing data, a bad option, a strategy that
cannot start here) is printed as one line that names the fix, with exit status 2, no traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from workbench import options as lab_options
from workbench import preemption, recipes, settings, summaries, training
from workbench.errors import OptionError, WorkbenchError


def run_lab(lab: str, argv: list[str] | None = None) -> dict:
    """Load data, build, compile, train and evaluate one lab as a batch job; return the result."""
    from workbench import data, distribute, models, speed, strategies

    preemption.install_handler()  # first: a signal during start-up must not kill the job
    recipe = recipes.get(lab)
    options = lab_options.resolve(recipe, argv)
    refuse_impossible_numbers(options)
    task = recipe.task_class.from_options(options)
    strategy = strategies.get(options["strategy"], require_gpu=options["require_gpu"],
                              cpu_replicas=options["cpu_replicas"])
    training.seed_everything(options["seed"], options["deterministic"])
    say = print if strategy.is_chief else _silent
    # Speed that leaves the model as it is (workbench.speed): the policy the model is built in
    # (steps per graph call are chosen below, once the epoch's steps are known).
    precision = speed.apply_precision(options["precision"])

    # Data: what the dataset holds, made into what the task trains on; preprocessing that learns
    # from the training set (a text vocabulary) learns here, on every rank alike.
    spec = data.get(options["dataset"])
    (train_images, train_labels), (test_images, test_labels) = data.load(
        options["dataset"], quick=options["quick"], data_dir=options["data_dir"],
        train_samples=options["train_samples"])
    task.prepare(spec, train_images)

    # Model: built and compiled where the strategy places its variables.
    with strategy.scope():
        model = speed.float32_outputs(
            models.build(options["model"], **recipe.model_settings(options), **task.model_settings(spec)))
        steps_per_epoch = strategy.steps_per_epoch(len(train_images), options["batch_size"])
        compile_speed = speed.compile_settings(options, strategy.name, steps_per_epoch)
        make_optimizer, base_rate = training.OPTIMIZERS[options["optimizer"]]
        if options["learning_rate"] is not None:
            base_rate = options["learning_rate"]
        warmup_steps = int(options["warmup_epochs"] * steps_per_epoch)
        if options["schedule"] == "cosine":
            rate = distribute.cosine_schedule(base_rate, strategy.replicas, warmup_steps,
                                              options["epochs"] * steps_per_epoch)
        else:
            rate = distribute.warmup_schedule(base_rate, strategy.replicas, warmup_steps)
        clipping = {"global_clipnorm": options["clip_norm"]} if options["clip_norm"] > 0 else {}
        task.compile(model, strategy.prepare_optimizer(make_optimizer(rate, **clipping)), **compile_speed)
        model.optimizer.build(model.trainable_variables)  # its state is restored on resume
    input_shape = models.get(options["model"]).input_shape
    train = task.examples(train_images, train_labels, input_shape)
    validation = task.validation_data(*task.examples(test_images, test_labels, input_shape))

    run_dir = lab_run_dir(lab, options)
    say(f"[{lab}] model {options['model']} ({model.count_params():,} parameters), {task.title}, "
        f"{len(train[0])} train / {len(validation[0])} test samples, {options['epochs']} epochs, "
        f"batch {options['batch_size']} x {strategy.replicas} replica(s), strategy {strategy.name}, "
        f"{precision}, {compile_speed['steps_per_execution']} step(s) per call"
        f"{', the fast recipe' if options['fast'] else ''}; run directory {run_dir}", flush=True)

    # Train: resuming from the last finished epoch if an earlier run of this directory was stopped.
    started = time.time()
    first_epoch = preemption.epochs_done(run_dir)
    if first_epoch:
        say(f"[{lab}] resuming after epoch {first_epoch} from {preemption.backup_file(run_dir)}", flush=True)
    callbacks = [preemption.epoch_backup(run_dir, is_chief=strategy.is_chief),
                 *strategy.rank_callbacks(run_dir, lambda where: training.callbacks(
                     where, append=first_epoch > 0, histogram_freq=options["histogram_freq"]))]
    if strategy.is_chief:
        callbacks += chief_summaries(recipe, task, options, run_dir, validation)
    try:
        strategy.fit(model, task, train, validation, epochs=options["epochs"],
                     batch_size=options["batch_size"], callbacks=callbacks, verbose=2, seed=options["seed"],
                     initial_epoch=first_epoch)
    except preemption.Preempted:
        say(f"[{lab}] stopped by SIGUSR1 after epoch {preemption.epochs_done(run_dir)}; the next run "
            f"with --run-name {run_dir.name} (a requeued job) resumes from there", flush=True)
        return {"preempted": True, "run_dir": str(run_dir)}

    # Evaluate: the task's figures on the test set, the headline compared with the reference.
    metrics = task.evaluate(model, *validation)
    if options["dump_weights"] is not None:
        dump_weights(model, options["dump_weights"] / f"rank{strategy.rank}.npz")
    test_metrics = {f"test_{key}": value for key, value in metrics.items()}
    result = {
        "lab": lab, "model": options["model"], "task": task.name, "headline": task.headline, **test_metrics,
        "epochs": options["epochs"], "strategy": strategy.name, "replicas": strategy.replicas,
        "batch_size": options["batch_size"], "seed": options["seed"], "quick": options["quick"],
        "train_samples": len(train[0]), "seconds": round(time.time() - started, 1), "run_dir": str(run_dir),
        "optimizer": options["optimizer"], "learning_rate": base_rate, "clip_norm": options["clip_norm"],
        "schedule": options["schedule"], "precision": precision, "fast": options["fast"],
        "steps_per_execution": compile_speed["steps_per_execution"], "jit_compile": options["jit_compile"],
        **recipe.model_settings(options), **task.settings,
        "hparams": options["hparams"],
    }

    # Report: rank 0 alone writes and prints.
    if strategy.is_chief:
        summaries.write_test_metrics(run_dir / "tensorboard", test_metrics, options["epochs"])
        (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        report(recipe, task, metrics, result, run_dir)
    return result


def main(lab: str, argv: list[str] | None = None) -> None:
    """``labs/NN_name.py``: run the lab; a user's mistake is one line naming the fix, exit status 2."""
    try:
        run_lab(lab, argv)
    except WorkbenchError as error:
        print(f"[{lab}] {error}", file=sys.stderr)
        sys.exit(2)


def lab_run_dir(lab: str, options: dict) -> Path:
    """``<logs>/<user>/<lab>-<model>/<run>``, or for a sweep point
    ``<logs>/<user>/sweep-<name>/<sweep run>/pNN-<values>``: all points of one sweep (all tasks of
    one array job) under one directory, which is what TensorBoard's HParams tab is pointed at."""
    if options["sweep"] is None:
        return settings.run_dir(f"{lab}-{options['model']}", options["log_dir"], options["run_name"])
    root = settings.sweep_dir(options["sweep"], options["log_dir"], options["run_name"])
    values = "-".join(f"{key}{value}" for key, value in sorted(options["hparams"].items()))
    return root / f"p{options['point']:02d}-{settings.safe_name(values)}"


def refuse_impossible_numbers(options: dict) -> None:
    """Stop before any data is loaded or process started when a number cannot work, naming the fix."""
    if options["train_samples"] is not None and options["train_samples"] < 1:
        raise OptionError(f"--train-samples {options['train_samples']}: give at least 1 (or leave it out)")
    if options["learning_rate"] is not None and options["learning_rate"] <= 0:
        raise OptionError(f"--learning-rate {options['learning_rate']:g}: give a positive rate, or leave it "
                          f"out for the {options['optimizer']} optimizer's own")
    if options["clip_norm"] < 0:
        raise OptionError(f"--clip-norm {options['clip_norm']:g}: give a positive norm, or 0 for none")


def chief_summaries(recipe, task, options: dict, run_dir: Path, validation: tuple) -> list:
    """Rank 0's extra TensorBoard summaries: the task's images, the HParams session, a profile."""
    from workbench import data, sweep

    board = run_dir / "tensorboard"
    chosen = task.board_callbacks(board, validation[0], validation[1] if len(validation) > 1 else None,
                                  data.get(options["dataset"]))
    if options["sweep"] is not None:
        summaries.write_experiment(run_dir.parent, sweep.load(options["sweep"])["grid"])
        chosen.append(summaries.hparams_callback(board, options["hparams"], trial_id=run_dir.name))
    if options["profile_steps"]:
        try:
            first, last = (int(step) for step in str(options["profile_steps"]).split(","))
        except ValueError:
            raise OptionError(f"--profile-steps {options['profile_steps']!r}: give two step numbers, "
                              "e.g. --profile-steps 5,10") from None
        chosen.append(summaries.profile_steps(board, first, last))
    return chosen


def dump_weights(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, *[np.asarray(w) for w in model.get_weights()])


def report(recipe, task, metrics: dict, result: dict, run_dir: Path) -> None:
    print(f"[{recipe.lab}] {task.describe(metrics)} after {result['epochs']} epoch(s) "
          f"in {result['seconds']} s")
    if recipe.reference and result["model"] == recipe.models[0]:
        print(f"[{recipe.lab}] {recipe.reference_line()}")
    print(f"[{recipe.lab}] TensorBoard logs: {run_dir / 'tensorboard'}")
    print(f"[{recipe.lab}] view them with: workbench board {run_dir / 'tensorboard'}")
    sys.stdout.flush()


def _silent(*_args, **_kwargs) -> None:
    pass
