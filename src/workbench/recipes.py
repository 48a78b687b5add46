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
    )
}


def get(lab: str) -> LabRecipe:
    try:
        return RECIPES[lab]
    except KeyError:
        raise KeyError(f"unknown lab {lab!r}; known labs: {', '.join(sorted(RECIPES))}") from None
