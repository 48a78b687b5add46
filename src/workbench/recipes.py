"""What each lab trains: dataset, models, the lecture's settings and the lecture's result.

One entry per lab. The batch script ``labs/NN_name.py`` is ``run_lab("NN_name")`` on top of this
entry, and the notebook of the same name uses the same values, so the lecture's numbers live in
exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabRecipe:
    lab: str
    title: str
    dataset: str
    models: tuple[str, ...]  # the first is the default of ``--model``
    epochs: int
    batch_size: int
    # What the lecture reports for the first model, for the "lecture vs ours" table.
    lecture: dict[str, float] = field(default_factory=dict)
    # Test accuracy a participant's run must reach to pass the notebook's check: after the
    # full recipe, and after quick mode's few epochs on a small subset.
    full_accuracy: float = 0.98
    quick_accuracy: float = 0.6
    # Extra knobs of this lab, each a flag ``--name`` and a hyperparameter a sweep can vary:
    # name -> (type, default, help). Keys other than ``optimizer`` are passed to the model builder.
    hparams: dict[str, tuple[type, object, str]] = field(default_factory=dict)
    optimizer: str = "lecture"  # default of --optimizer (see training.OPTIMIZERS)


LECTURE_CNN_RESULT = {"epochs": 10, "batch_size": 32, "accuracy": 0.9989, "val_accuracy": 0.9874,
                      "loss": 0.0051, "val_loss": 0.0424}

RECIPES: dict[str, LabRecipe] = {
    recipe.lab: recipe
    for recipe in (
        LabRecipe("01_mnist_dense", "MNIST with a dense network", "mnist", ("mnist_dense",),
                  epochs=10, batch_size=32, full_accuracy=0.95),
        LabRecipe("02_mnist_cnn", "MNIST with a convolutional network", "mnist",
                  ("mnist_cnn", "mnist_cnn_deeper"), epochs=10, batch_size=32,
                  lecture=LECTURE_CNN_RESULT),
        LabRecipe("03_mnist_dropout", "Dropout against overfitting", "mnist",
                  ("mnist_cnn_dropout",), epochs=10, batch_size=32),
        LabRecipe("04_mnist_batchnorm", "Batch normalization", "mnist",
                  ("mnist_cnn_batchnorm", "mnist_cnn_bn_before_activation"),
                  epochs=10, batch_size=32),
        # TensorBoard's HParams tutorial, which the lecture's table comes from: Fashion-MNIST,
        # one epoch, Keras' default batch (32) and the optimizers' default learning rates.
        LabRecipe("06_tensorboard", "TensorBoard: scalars, graphs, histograms, HParams, profiler",
                  "fashion_mnist", ("fashion_dense",), epochs=1, batch_size=32,
                  full_accuracy=0.75, quick_accuracy=0.5, optimizer="adam",
                  hparams={"num_units": (int, 16, "width of the hidden layer"),
                           "dropout": (float, 0.1, "dropout rate after the hidden layer")}),
    )
}

# The lecture's HParams table (lecture 003, "TensorBoard Add Ons"): test accuracy after one epoch.
LECTURE_HPARAMS_TABLE = [
    {"num_units": 32, "dropout": 0.2, "optimizer": "sgd", "accuracy": 0.7755},
    {"num_units": 32, "dropout": 0.2, "optimizer": "adam", "accuracy": 0.8265},
    {"num_units": 16, "dropout": 0.2, "optimizer": "adam", "accuracy": 0.8154},
    {"num_units": 16, "dropout": 0.1, "optimizer": "adam", "accuracy": 0.8321},
    {"num_units": 32, "dropout": 0.1, "optimizer": "adam", "accuracy": 0.8395},
    {"num_units": 16, "dropout": 0.2, "optimizer": "sgd", "accuracy": 0.7683},
    {"num_units": 32, "dropout": 0.1, "optimizer": "sgd", "accuracy": 0.7853},
    {"num_units": 16, "dropout": 0.1, "optimizer": "sgd", "accuracy": 0.7770},
]


def get(lab: str) -> LabRecipe:
    try:
        return RECIPES[lab]
    except KeyError:
        raise KeyError(f"unknown lab {lab!r}; known labs: {', '.join(sorted(RECIPES))}") from None
