"""Lab models: exact parameter counts, and notebook code identical to the registry."""

from __future__ import annotations

import re

import nbformat
import pytest

from workbench import checks, models, recipes

from .conftest import ROOT

# Counted by hand from the lecture listings (weights + biases; BN: 4 per feature).
PARAMETERS = {
    "mnist_dense": 784 * 64 + 64 + 64 * 10 + 10,  # 50,890
    "mnist_cnn": 320 + 13 * 13 * 32 * 100 + 100 + 1010 + 110,  # 542,340
    "mnist_cnn_deeper": 320 + 18496 + 24 * 24 * 64 * 128 + 128 + 1290,  # 4,738,826
    "mnist_cnn_dropout": 320 + 18496 + 12 * 12 * 64 * 128 + 128 + 1290,  # 1,199,882
    "mnist_cnn_deeper_dropout": 320 + 18496 + 24 * 24 * 64 * 128 + 128 + 1290,  # 4,738,826
    "mnist_cnn_pooled": 320 + 18496 + 12 * 12 * 64 * 128 + 128 + 1290,  # 1,199,882
    "mnist_cnn_batchnorm": 320 + 128 + 18496 + 256 + 9216 * 128 + 128 + 512 + 1290,  # 1,200,778
    "mnist_cnn_bn_before_activation": 288 + 128 + 18432 + 256 + 9216 * 128 + 512 + 1290,
    "fashion_dense": 784 * 16 + 16 + 16 * 10 + 10,  # 12,730 at the registry's 16 units
    # Lecture 004's autoencoder tables, exactly.
    "ae_dense": (784 * 32 + 32) + (32 * 784 + 784),  # 25,120 + 25,872 = 50,992
    "ae_sparse": 50_992,  # the same layers; the L1 penalty adds no weights
    "ae_deep": 100_480 + 8_256 + 2_080 + 2_112 + 8_320 + 101_136,  # 222,384
    "ae_conv": 160 + 1_160 + 584 + 584 + 584 + 1_168 + 145,  # 4,385 (1,168: the valid 3x3 conv 8 -> 16)
    "ae_denoise": 320 + 9_248 + 9_248 + 9_248 + 289,  # 28,353
    # keras-io's VAE: encoder 320 + 18,496 + 3136 * 16 + 16 + 2 * 34 = 69,076; decoder
    # 3 * 3136 + 36,928 + 18,464 + 289 = 65,089.
    "mnist_vae": 69_076 + 65_089,  # 134,165
    "mnist_logistic": 784 * 10 + 10,  # 7,850: lab 00's softmax regression
    # Lecture 003's BiLSTM at vocabulary 20,000: embedding 20,000 x 64; an LSTM direction has
    # 4 gates x (inputs x units + units x units + units); the second reads both directions (128).
    "imdb_bilstm": 20_000 * 64 + 2 * 4 * (64 * 64 + 64 * 64 + 64) + 2 * 4 * (128 * 32 + 32 * 32 + 32)
    + 64 * 64 + 64 + 65,  # 1,391,489
    # The TensorFlow CNN tutorial's summary: 896 + 18,496 + 36,928 + 65,600 + 650.
    "cifar_cnn": 122_570,
    # ResNet-8: stem 432 + BN 64; 16->16 block 2 x 2,304 + 2 BN; 16->32 and 32->64 blocks with
    # their 1x1 projections and BNs; softmax 650.
    "cifar_resnet": 496 + (4_608 + 128) + (4_608 + 9_216 + 256 + 512 + 128)
    + (18_432 + 36_864 + 512 + 2_048 + 256) + 650,  # 78,714
}


def test_lecture_004_tables_and_compression():
    """The lecture's totals and its "~24.5 times compression from 784d vector" (784 / 32 = 24.5)."""
    names = ("ae_dense", "ae_deep", "ae_conv", "ae_denoise")
    assert [models.build(name).count_params() for name in names] == [50_992, 222_384, 4_385, 28_353]
    dense = models.build("ae_dense")
    assert 784 / dense.layers[0].units == 24.5
    conv = models.build("ae_conv")
    assert tuple(conv.layers[5].output.shape[1:]) == (4, 4, 8)  # the code: 128 numbers
    assert tuple(conv.layers[10].output.shape[1:]) == (14, 14, 16)  # the valid convolution


def test_every_registered_model_has_a_known_count():
    assert set(PARAMETERS) == set(models.MODELS)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_count(name):
    assert models.build(name).count_params() == PARAMETERS[name]


def test_every_recipe_model_is_registered():
    for recipe in recipes.RECIPES.values():
        for name in recipe.models:
            assert name in models.MODELS, (recipe.lab, name)


def test_unknown_model_lists_the_registry():
    with pytest.raises(models.UnknownModelError, match="mnist_cnn_dropout"):
        models.build("mnist_rnn")


def solution_models(lab: str) -> dict:
    """Run the model-building cells of a solution notebook; return the Keras models they define."""
    import keras

    notebook = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
    namespace = {"keras": keras}
    for cell in notebook.cells:
        if cell.cell_type == "code" and "keras.Sequential(" in cell.source:
            code = "\n".join(line for line in cell.source.splitlines() if ".summary()" not in line)
            exec(compile(code, f"{lab}.ipynb", "exec"), namespace)  # instructors' own notebook
    built = {key: value for key, value in namespace.items() if isinstance(value, keras.Model)}
    if "build_model" in namespace:  # a builder taking hyperparameters: the registry's defaults
        built["build_model"] = namespace["build_model"](16, 0.1)
    return built


@pytest.mark.parametrize("lab", sorted(set(recipes.RECIPES) - {"09_vae"}))
def test_notebook_models_match_the_registry(lab):
    """The batch lab trains exactly what the notebook teaches, layer by layer: models named after
    a registry entry are compared with it, the others with the recipe's remaining models in order
    (once every recipe model is matched by name, the others are the notebook's own, e.g. lab 00's
    XOR network and LeNet-5)."""
    built = solution_models(lab)
    names = recipes.get(lab).models
    # Models the notebook takes from the registry itself (a baseline to compare with, a model an
    # earlier lab taught) are the batch lab's by construction.
    notebook = nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4)
    from_registry = set(re.findall(r'models\.build\("(\w+)"', "\n".join(
        cell.source for cell in notebook.cells if cell.cell_type == "code")))
    named = {model.name: model for model in built.values() if model.name in names}
    unnamed = [model for model in built.values() if model.name not in names]
    remaining = [name for name in names if name not in named and name not in from_registry]
    assert set(named) | from_registry | set(remaining[:len(unnamed)]) >= set(names), \
        f"{lab}: notebook defines {sorted(built)} and builds {sorted(from_registry)}, recipe lists {names}"
    for name, model in named.items():
        assert checks.model(model, name)
    for model, name in zip(unnamed, remaining, strict=False):
        assert checks.model(model, name)


def test_vae_notebook_matches_the_package():
    """Lab 09's notebook writes the VAE's classes and sub-models itself (the API it teaches); the
    batch lab builds ``workbench.vae``'s: the same layers, the same parameter count."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import ops

    from workbench import vae

    notebook = nbformat.read(ROOT / "solutions" / "09_vae.ipynb", as_version=4)
    namespace = {"keras": keras, "ops": ops, "tf": tf, "np": np,
                 "x_train": np.zeros((128, 28, 28, 1), "float32")}  # the cell after the class uses it
    defining = ("class Sampling", "keras.Model(", "class VAE")
    for cell in notebook.cells:
        if cell.cell_type == "code" and any(marker in cell.source for marker in defining) and \
                "check" not in cell.metadata.get("tags", []):  # a check's hidden test builds models too
            code = "\n".join(line for line in cell.source.splitlines()
                             if ".summary()" not in line and not line.startswith("print("))
            exec(compile(code, "09_vae.ipynb", "exec"), namespace)  # instructors' own notebook
    for mine, theirs in ((namespace["encoder"], vae.encoder()), (namespace["decoder"], vae.decoder())):
        kinds = [type(layer).__name__ for layer in mine.layers]
        assert kinds == [type(layer).__name__ for layer in theirs.layers]
        for layer, reference in zip(mine.layers, theirs.layers, strict=True):
            assert checks.layer_fields(layer) == checks.layer_fields(reference), (layer.name, reference.name)
    taught = namespace["VAE"](namespace["encoder"], namespace["decoder"])
    taught.build((None, 28, 28, 1))
    assert taught.count_params() == models.build("mnist_vae").count_params() == PARAMETERS["mnist_vae"]
