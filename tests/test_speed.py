"""Speed settings (workbench.speed), the cosine schedule and the --fast recipe's option layering.

Only behaviour: which policy and how many steps per call a run gets, that the model's output
stays float32, that flags beat the fast recipe. How fast any of it is lives in bench/RESULTS.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import distribute, options, recipes, speed
from workbench.errors import OptionError


def test_auto_precision_follows_the_hardware():
    assert speed.resolve_precision("auto", gpus=[(9, 0)]) == "mixed_bfloat16"  # H100/H200
    assert speed.resolve_precision("auto", gpus=[(8, 0), (7, 0)]) == "mixed_float16"  # the oldest decides
    assert speed.resolve_precision("auto", gpus=[], cpu_bf16=True) == "mixed_bfloat16"
    assert speed.resolve_precision("auto", gpus=[], cpu_bf16=False) == "float32"
    assert speed.resolve_precision("mixed_float16", gpus=[], cpu_bf16=False) == "mixed_float16"
    with pytest.raises(OptionError, match="choose one of float32, mixed_bfloat16"):
        speed.resolve_precision("half")


def test_bfloat16_cpus_are_recognised_by_their_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert speed.cpu_computes_bfloat16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 amx_tile\n")  # AMX without its bf16 part
    assert not speed.cpu_computes_bfloat16(cpuinfo)
    assert not speed.cpu_computes_bfloat16(tmp_path / "missing")


def test_steps_per_execution_divides_the_epoch_and_is_one_where_more_do_not_work():
    def rule(requested, strategy="default", profile_steps=None, steps_per_epoch=1875):
        return speed.steps_per_execution(requested, strategy=strategy, profile_steps=profile_steps,
                                         steps_per_epoch=steps_per_epoch)

    assert rule(None) == 25  # full MNIST at batch 32: 1875 = 3 x 5^4, the largest divisor up to 50
    assert rule(None, steps_per_epoch=1000) == speed.STEPS_PER_EXECUTION
    assert rule(None, steps_per_epoch=157) == 1  # quick mode's 5,000 images at 32: a prime
    assert rule(5, strategy="horovod") == 5
    assert rule(None, strategy="multiworker") == 1
    assert rule(None, strategy="mirrored") == 1
    assert rule(None, profile_steps="5,10") == 1
    with pytest.raises(OptionError, match="50 does not divide the epoch's 1875 steps.* 1, 3, 5, 15, 25, 75"):
        rule(50)
    with pytest.raises(OptionError, match="multiworker strategy runs one step per call"):
        rule(10, strategy="multiworker")
    with pytest.raises(OptionError, match="profiler needs one step per call"):
        rule(10, profile_steps="5,10")
    with pytest.raises(OptionError, match="give 1 or more"):
        rule(0)


def test_compile_settings_keep_xla_off_under_horovod_unless_asked():
    chosen = {"steps_per_execution": None, "profile_steps": None, "jit_compile": "auto"}
    assert speed.compile_settings(chosen, "default", 1000) == {"steps_per_execution": 50,
                                                               "jit_compile": "auto"}
    assert speed.compile_settings(chosen, "horovod", 1000)["jit_compile"] is False
    assert speed.compile_settings({**chosen, "jit_compile": "on"}, "horovod", 1000)["jit_compile"] is True
    assert speed.compile_settings({**chosen, "jit_compile": "off"}, "default", 1000)["jit_compile"] is False


def test_under_a_mixed_policy_the_model_computes_in_bfloat16_and_answers_in_float32():
    import keras
    import numpy as np

    from workbench import models

    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = speed.float32_outputs(models.build("mnist_cnn"))
        assert model.layers[0].compute_dtype == "bfloat16"
        assert model.layers[-1].compute_dtype == "float32"
        assert all(weight.dtype == "float32" for weight in model.weights)
        output = model(np.zeros((2, 28, 28, 1), "float32"))
        assert keras.backend.standardize_dtype(output.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    plain = models.build("mnist_cnn")
    assert speed.float32_outputs(plain) is plain and plain.layers[-1].compute_dtype == "float32"


def test_cosine_schedule_warms_up_then_decays_to_zero():
    one = distribute.cosine_schedule(0.04, 1, warmup_steps=100, total_steps=1100)
    assert float(one(0)) == pytest.approx(0.004)  # a tenth of the rate, ramped up
    assert float(one(50)) == pytest.approx(0.022) and float(one(100)) == pytest.approx(0.04)
    assert float(one(600)) == pytest.approx(0.02, rel=1e-3)
    assert float(one(1100)) == pytest.approx(0.0, abs=1e-7)
    two = distribute.cosine_schedule(0.04, 2, warmup_steps=100, total_steps=1100)  # scaled: 0.08
    assert float(two(0)) == pytest.approx(0.008) and float(two(100)) == pytest.approx(0.08)
    assert float(two(1100)) == pytest.approx(0.0, abs=1e-7)
    no_warmup = distribute.cosine_schedule(0.04, 1, warmup_steps=0, total_steps=10)
    assert float(no_warmup(0)) == pytest.approx(0.04)


def test_fast_replaces_defaults_and_what_the_user_chose_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_QUICK", raising=False)
    recipe = recipes.get("02_mnist_cnn")
    lecture = options.resolve(recipe, [])
    assert (lecture["batch_size"], lecture["schedule"], lecture["precision"]) == (32, "constant", "float32")
    assert lecture["steps_per_execution"] is None  # the driver's default (speed.STEPS_PER_EXECUTION)
    fast = options.resolve(recipe, ["--fast"])
    assert {key: fast[key] for key in recipe.fast} == recipe.fast
    assert options.resolve(recipe, ["--fast", "--batch-size", "64"])["batch_size"] == 64
    config = tmp_path / "run.toml"
    config.write_text("precision = 'float32'\n")
    assert options.resolve(recipe, ["--fast", "--config", str(config)])["precision"] == "float32"
    assert options.resolve(recipe, ["--fast", "--quick"])["epochs"] == 2  # quick mode's few epochs
    with pytest.raises(OptionError, match="lab 01_mnist_dense has no fast recipe .*02_mnist_cnn"):
        options.resolve(recipes.get("01_mnist_dense"), ["--fast"])


@pytest.mark.slow
def test_the_fast_recipe_runs_and_says_what_it_used(real_data, tmp_path, monkeypatch):
    import keras

    from workbench.driver import run_lab

    monkeypatch.setenv("WORKBENCH_DATA", str(real_data))
    try:
        result = run_lab("02_mnist_cnn", ["--fast", "--quick", "--log-dir", str(tmp_path),
                                          "--run-name", "fast"])
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is process-wide
    saved = json.loads((Path(result["run_dir"]) / "result.json").read_text())
    assert saved == {**saved, "fast": True, "schedule": "cosine", "batch_size": 256, "learning_rate": 0.2,
                     "steps_per_execution": 20,  # quick mode: 5,000 images in 20 steps of 256
                     "precision": speed.resolve_precision("auto")}
    assert result["test_accuracy"] > 0.5  # measured 0.684: quick mode gives it only 40 steps of 256


def test_every_strategy_lets_gpu_memory_grow_before_it_is_set_up(monkeypatch):
    """No GPU here: TensorFlow's device list is stood in for, to show the call is made, and first."""
    import tensorflow as tf

    from workbench import strategies

    calls = []
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["GPU:0", "GPU:1"] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth",
                        lambda gpu, grow: calls.append((gpu, grow)))
    monkeypatch.setattr(strategies.OneDevice, "setup", classmethod(lambda cls, **_: calls.append("setup")))
    strategies.get("default")
    assert calls == [("GPU:0", True), ("GPU:1", True), "setup"]
