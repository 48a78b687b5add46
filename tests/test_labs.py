"""Batch labs: options, run directories, and the real-data accuracy target."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench import options as lab_options
from workbench import recipes, settings, speed
from workbench.errors import OptionError

from .conftest import ROOT


def run_lab_script(lab, *args, env=None, timeout=600):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "labs" / f"{lab}.py"), *args], env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("lab", sorted(recipes.RECIPES))
def test_every_recipe_has_a_script_and_a_notebook(lab):
    assert (ROOT / "labs" / f"{lab}.py").is_file()
    assert (ROOT / "solutions" / f"{lab}.ipynb").is_file()


def test_options_precedence_defaults_config_env_flags(tmp_path, monkeypatch):
    recipe = recipes.get("02_mnist_cnn")
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    monkeypatch.delenv("WORKBENCH_LOGS", raising=False)
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    assert lab_options.resolve(recipe, [])["epochs"] == 10
    config = tmp_path / "lab.toml"
    config.write_text('epochs = 3\nbatch-size = 64\nlog_dir = "from-config"\n')
    options = lab_options.resolve(recipe, ["--config", str(config)])
    assert (options["epochs"], options["batch_size"], str(options["log_dir"])) == (3, 64, "from-config")
    monkeypatch.setenv("WORKBENCH_LOGS", "from-env")
    options = lab_options.resolve(recipe, ["--config", str(config)])
    assert str(options["log_dir"]) == "from-env"
    flags = ["--config", str(config), "--log-dir", "flag", "--epochs", "5"]
    options = lab_options.resolve(recipe, flags)
    assert (str(options["log_dir"]), options["epochs"]) == ("flag", 5)
    monkeypatch.setenv("WORKBENCH_QUICK", "1")
    assert lab_options.resolve(recipe, [])["epochs"] == settings.QUICK_EPOCHS


@pytest.mark.parametrize("content, problem", [
    ("epochs = 3\nepoch = 4\n", "unknown setting(s) epoch"),
    ("epochs = [", "is not valid TOML"),
])
def test_bad_config_files_are_named(tmp_path, content, problem):
    config = tmp_path / "lab.toml"
    config.write_text(content)
    with pytest.raises(OptionError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        lab_options.resolve(recipes.get("02_mnist_cnn"), ["--config", str(config)])


def test_a_config_value_of_the_wrong_type_names_the_setting(tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text('epochs = "ten"\n')
    with pytest.raises(OptionError, match="epochs = 'ten', expected a value of type int"):
        lab_options.resolve(recipes.get("02_mnist_cnn"), ["--config", str(config)])


def test_every_option_is_declared_once_with_help():
    for recipe in recipes.RECIPES.values():
        names = [option.name for option in lab_options.lab_options(recipe)]
        assert len(names) == len(set(names)), recipe.lab
        assert all(option.help for option in lab_options.lab_options(recipe))


def test_task_options_become_lab_flags(monkeypatch):
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    values = lab_options.resolve(recipes.get("08_denoising"), ["--noise-factor", "0.6"])
    assert values["noise_factor"] == 0.6
    assert lab_options.resolve(recipes.get("08_denoising"), [])["noise_factor"] == 0.4
    assert lab_options.resolve(recipes.get("10_uncertainty"), ["--dataset", "fashion_mnist"])["dataset"] == \
        "fashion_mnist"


@pytest.mark.parametrize("flags, problem", [
    (["--learning-rate", "0"], "--learning-rate 0: give a positive rate"),
    (["--learning-rate", "-0.1"], "--learning-rate -0.1: give a positive rate"),
    (["--clip-norm", "-1"], "--clip-norm -1: give a positive norm"),
    (["--train-samples", "0"], "--train-samples 0: give at least 1"),
])
def test_impossible_numbers_are_refused_before_anything_loads(flags, problem, monkeypatch):
    from workbench import data, driver

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data loaded before the check"))
    with pytest.raises(OptionError, match=problem):
        driver.run_lab("04_mnist_batchnorm", flags)


def test_learning_rate_flag_replaces_the_optimizers_own(monkeypatch):
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    recipe = recipes.get("04_mnist_batchnorm")
    assert lab_options.resolve(recipe, [])["learning_rate"] is None
    assert lab_options.resolve(recipe, ["--learning-rate", "0.3"])["learning_rate"] == 0.3


def test_learning_rate_flag_reaches_the_trained_optimizer(real_data, tmp_path):
    import keras

    done = run_lab_script("01_mnist_dense", "--quick", "--epochs", "1", "--train-samples", "64",
                          "--learning-rate", "0.05", "--log-dir", str(tmp_path), "--run-name", "t",
                          env={"WORKBENCH_DATA": str(real_data)})
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = next(tmp_path.glob("*/01_mnist_dense-*/t"))
    assert json.loads((run_dir / "result.json").read_text())["learning_rate"] == 0.05
    saved = keras.models.load_model(run_dir / "checkpoints" / "last.keras")
    assert float(saved.optimizer.learning_rate) == pytest.approx(0.05)


def test_a_bad_config_stops_the_lab_with_one_line_and_no_traceback(tmp_path):
    config = tmp_path / "lab.toml"
    config.write_text("epoch = 4\n")
    done = run_lab_script("07_autoencoders", "--config", str(config))
    assert done.returncode == 2
    assert "unknown setting(s) epoch" in done.stderr and "Traceback" not in done.stderr


def test_wrong_model_for_a_lab_is_refused(capsys):
    with pytest.raises(SystemExit):
        lab_options.resolve(recipes.get("02_mnist_cnn"), ["--model", "mnist_dense"])
    assert "invalid choice: 'mnist_dense'" in capsys.readouterr().err


def test_run_directories_never_collide(monkeypatch, tmp_path):
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    path = settings.run_dir("02_mnist_cnn", tmp_path)
    assert path.parent == tmp_path / "alice" / "02_mnist_cnn" and path.name.endswith("job77-task3")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert settings.run_dir("x", tmp_path).name.endswith(f"pid{os.getpid()}")


def image_tags(folder) -> set[str]:
    import tensorflow as tf

    return {value.tag for path in folder.glob("events.out.tfevents.*")
            for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value}


def untrained_loss(lab, real_data) -> float:
    """The lab's test loss before any training: the baseline learning must beat."""
    from workbench import data, models, training

    recipe = recipes.get(lab)
    training.seed_everything(0)
    task = recipe.task_class()
    model = models.build(recipe.models[0])
    _, (x_test, y_test) = data.load(recipe.dataset, quick=True, data_dir=real_data)
    return task.evaluate(model, *task.validation_data(*task.examples(x_test, y_test,
                                                                     models.get(recipe.models[0]).input_shape)))["loss"]


# What each lab must show after quick mode's 2 epochs on the fixed 5,000-image subset of the real
# data (the figures measured on 2026-11-23 are in the comments): learning happened, by a margin.
def quick_result_is_sound(lab, result, real_data):
    if result["headline"] == "accuracy":  # the floor a notebook's check uses too
        assert result["test_accuracy"] >= recipes.get(lab).quick_target
    if result["task"] == "classify_mc_dropout":  # measured: 1.000 vs 0.750
        assert result["test_confident_decile_accuracy"] > result["test_uncertain_decile_accuracy"] + 0.1
    if result["task"] in ("reconstruct", "denoise"):  # measured: 0.228 vs 0.696, 0.164 vs 0.676
        assert result["test_loss"] < 0.6 * untrained_loss(lab, real_data)
    if result["task"] == "denoise":  # measured: 14.6 dB vs 11.0 dB
        assert result["test_psnr"] > result["test_psnr_noisy"] + 2.0
    if result["task"] == "vae":  # measured: 211.5 vs 543.4 untrained
        assert result["test_kl_loss"] > 0 and result["test_loss"] < 0.5 * untrained_loss(lab, real_data)


@pytest.mark.slow
@pytest.mark.parametrize("lab", sorted(recipes.RECIPES))
def test_lab_runs_in_quick_mode_and_writes_its_run_directory(lab, real_data, tmp_path):
    done = run_lab_script(lab, "--quick", "--log-dir", str(tmp_path), "--run-name", "t",
                          env={"WORKBENCH_DATA": str(real_data)})
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = next(tmp_path.glob(f"*/{lab}-*/t"))
    result = json.loads((run_dir / "result.json").read_text())
    from workbench import data

    assert result["quick"] and result["train_samples"] == data.get(recipes.get(lab).dataset).quick[0]
    # The speed defaults (workbench.speed): steps per graph call dividing the epoch, float32.
    steps = -(-result["train_samples"] // result["batch_size"])
    expected = speed.steps_per_execution(None, strategy="default", profile_steps=None, steps_per_epoch=steps)
    assert (result["steps_per_execution"], result["precision"]) == (expected, "float32")
    assert f"test_{result['headline']}" in result and f"[{lab}] test " in done.stdout
    quick_result_is_sound(lab, result, real_data)
    assert f"TensorBoard logs: {run_dir / 'tensorboard'}" in done.stdout
    assert (run_dir / "checkpoints" / "last.keras").is_file()
    quick_epochs = min(settings.QUICK_EPOCHS, recipes.get(lab).epochs)  # lab 06: one epoch
    assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + quick_epochs
    assert list((run_dir / "tensorboard" / "train").glob("events.out.tfevents.*"))
    # the task's pictures: predictions for image classifiers, reconstruction grids for autoencoders
    if result["task"] != "classify_text":
        expected = "test samples" if result["task"].startswith("classify") else "reconstructions"
        assert any(tag.startswith(expected) for tag in image_tags(run_dir / "tensorboard" / "images"))


@pytest.mark.slow
def test_lab02_cnn_reaches_98_percent_on_full_mnist_in_two_epochs(real_data, tmp_path):
    """The issue's real-data target: the lecture's CNN, full MNIST, 2 epochs on CPU."""
    done = run_lab_script("02_mnist_cnn", "--epochs", "2", "--log-dir", str(tmp_path), "--run-name", "full",
                          env={"WORKBENCH_DATA": str(real_data), "WORKBENCH_QUICK": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(tmp_path.glob("*/02_mnist_cnn-mnist_cnn/full/result.json")).read_text())
    assert result["train_samples"] == 60000 and result["epochs"] == 2
    assert result["test_accuracy"] >= 0.980, result


@pytest.mark.slow
def test_bilstm_beats_75_percent_on_an_imdb_subset_in_one_epoch(real_data, tmp_path):
    """Lecture 003's BiLSTM on 10,000 raw training reviews, one epoch, judged on quick mode's 1,000
    test reviews (measured: 0.783, in 95 s on 2 cores shared with other work). Quick mode's 2,000
    reviews are too few for this margin: 0.753 after 2 epochs, and it overfits at 3."""
    done = run_lab_script("11_imdb_bilstm", "--quick", "--train-samples", "10000", "--epochs", "1",
                          "--log-dir", str(tmp_path), "--run-name", "subset",
                          env={"WORKBENCH_DATA": str(real_data)})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(tmp_path.glob("*/11_imdb_bilstm-imdb_bilstm/subset/result.json")).read_text())
    assert result["train_samples"] == 10000 and result["vocab_size"] == 20000 and result["clip_norm"] == 1.0
    assert result["test_accuracy"] > 0.75, result


@pytest.mark.slow
def test_fashion_mnist_cnn_beats_81_percent_on_a_third_of_the_data_in_two_epochs(real_data, tmp_path):
    """The lab's dropout CNN (lab 03's), the lecture's SGD, 20,000 real Fashion-MNIST images, 2 epochs,
    the full 10,000-image test set: measured 0.8392 and 0.8299 (seeds 0 and 1), so 0.81 leaves two
    points of margin over a run that learns less (the recipe's quick-mode floor is 0.70). A third of
    the data keeps this test at about a minute; on all 60,000 images the same run reaches 0.8866
    (labs/reference/12_fashion_mnist.log has the full runs)."""
    done = run_lab_script("12_fashion_mnist", "--model", "mnist_cnn_dropout", "--epochs", "2",
                          "--train-samples", "20000", "--log-dir", str(tmp_path), "--run-name", "third",
                          env={"WORKBENCH_DATA": str(real_data), "WORKBENCH_QUICK": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    found = next(tmp_path.glob("*/12_fashion_mnist-mnist_cnn_dropout/third/result.json"))
    result = json.loads(found.read_text())
    assert result["train_samples"] == 20000 and result["test_accuracy"] > 0.81, result


def test_missing_data_stops_the_lab_with_the_fix(tmp_path):
    done = run_lab_script("01_mnist_dense", "--quick", "--data-dir", str(tmp_path),
                          env={"WORKBENCH_OFFLINE": "1", "KERAS_HOME": str(tmp_path / "k"),
                               "XDG_CACHE_HOME": str(tmp_path / "c"), "WORKBENCH_DATA": ""})
    assert done.returncode == 2
    assert "workbench data fetch mnist" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_vae_on_full_mnist_learns_a_latent_code(real_data, tmp_path):
    """One epoch on all 60,000 images: the loss falls far below the untrained model's and the KL
    term carries information (measured: loss 192.8 against 543.4 untrained, KL 3.1; keras-io: 149
    with KL 6.6 after 14 epochs). In quick mode the KL term can still collapse to nearly 0, so
    this is the run that shows the VAE works."""
    done = run_lab_script("09_vae", "--epochs", "1", "--log-dir", str(tmp_path), "--run-name", "full",
                          env={"WORKBENCH_DATA": str(real_data), "WORKBENCH_QUICK": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(tmp_path.glob("*/09_vae-mnist_vae/full/result.json")).read_text())
    assert result["train_samples"] == 60000
    assert result["test_loss"] < 0.5 * untrained_loss("09_vae", real_data) and result["test_kl_loss"] > 1.0


def test_mc_dropout_runs_its_passes_once_at_the_end_not_every_epoch():
    """Per-epoch validation (the multi-worker loop's) is the plain accuracy; the T stochastic
    passes, which cost T forward passes over the test set, are the final evaluation only."""
    import numpy as np

    from workbench import models, tasks

    task = tasks.get("classify_mc_dropout")(mc_passes=3)
    model = models.build("mnist_cnn_dropout")
    x, y = np.zeros((8, 28, 28, 1), "float32"), np.arange(8) % 10
    assert set(task.validate(model, x, y)) == {"loss", "accuracy"}
    final = set(task.evaluate(model, x, y))
    assert {"mc_accuracy", "confident_decile_accuracy", "uncertain_decile_accuracy"} <= final
