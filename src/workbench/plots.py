"""Plots participants look at in a notebook after training a Keras classifier.

Why these plots: a single accuracy number hides whether a model is still improving (learning
curves), which classes it confuses (confusion matrix) and whether its mistakes are reasonable
(misclassified images). ``compare_with_lecture`` puts our numbers next to the lecture's so a
participant can tell "slightly worse because I trained 2 epochs instead of 10" from "broken".

matplotlib is imported inside each function, never at module level, so ``import workbench.plots``
(and the ``workbench`` command) stays instant on a login node. TensorFlow is never needed: every
function takes numpy arrays, plain dicts or a Keras ``History`` object, which is duck-typed.

Every plotting function returns the matplotlib ``Figure``, created through ``pyplot`` so Jupyter's
inline backend shows it at the end of the cell even when the result is assigned. Because Jupyter
also displays a figure that is the cell's last expression, end such a line with ``;`` or assign
the result (``fig = plots.learning_curves(history)``) to see the figure once, not twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

VALIDATION_PREFIX = "val_"
MAX_ANNOTATED_CLASSES = 20  # beyond this, per-cell numbers in a confusion matrix are unreadable


def _pyplot():
    """Import pyplot only when a plot is requested, keeping the package import cheap."""
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- learning curves


def _history_logs(history: Any) -> dict[str, list[float]]:
    """Accept a Keras ``History`` or its ``.history`` dict; drop empty series (nothing to plot)."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(
            "history must be a Keras History object or its .history dict, "
            f"got {type(history).__name__}"
        )
    return {
        str(key): [float(value) for value in np.ravel(values)]
        for key, values in logs.items()
        if np.size(values) > 0
    }


def learning_curves(
    history: Any,
    metrics: Sequence[str] | str = ("loss", "accuracy"),
    lecture: Mapping[str, float] | None = None,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Plot train and validation curves per metric, so over- and under-fitting are visible.

    One subplot per metric found in ``history`` (as ``metric`` or ``val_metric``); metrics that
    are missing are skipped so the same notebook cell works whether or not the model tracked,
    say, accuracy. Epochs are numbered from 1, like Keras prints them.

    ``lecture`` holds the values the lecture reported, e.g. ``{"val_accuracy": 0.9874,
    "epochs": 10}``; each matching value is drawn as a dashed horizontal line labelled
    "lecture", the target to compare our curve against. ``axes`` lets a notebook place the
    subplots in its own figure (one axes per plotted metric).

    Raises ``ValueError`` naming the available keys when none of ``metrics`` is present, because
    a typo such as "acc" vs "accuracy" is the usual cause.
    """
    logs = _history_logs(history)
    requested = [metrics] if isinstance(metrics, str) else list(metrics)
    # "val_accuracy" and "accuracy" both mean the accuracy subplot; keep order, drop duplicates.
    base_names = list(dict.fromkeys(name.removeprefix(VALIDATION_PREFIX) for name in requested))
    present = [name for name in base_names if name in logs or VALIDATION_PREFIX + name in logs]
    if not present:
        raise ValueError(
            f"none of the metrics {requested} are in the history; available keys: {sorted(logs)}"
        )

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    owns_figure = axes is None
    if axes is None:
        fig, axes_grid = plt.subplots(
            1, len(present), figsize=(5 * len(present), 3.8), squeeze=False
        )
        plot_axes = list(axes_grid.ravel())
    else:
        plot_axes = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(plot_axes) < len(present):
            raise ValueError(
                f"got {len(plot_axes)} axes but {len(present)} metrics to plot: {present}"
            )
        fig = plot_axes[0].figure

    lecture = dict(lecture or {})
    lecture_epochs = lecture.get("epochs")
    for name, ax in zip(present, plot_axes, strict=False):
        for key, label in ((name, "train"), (VALIDATION_PREFIX + name, "validation")):
            if key in logs:
                epochs = np.arange(1, len(logs[key]) + 1)
                ax.plot(epochs, logs[key], marker="o", markersize=3, label=label)
        for key, label in ((VALIDATION_PREFIX + name, "lecture"), (name, "lecture (train)")):
            if key in lecture:
                _draw_lecture_line(ax, float(lecture[key]), label, lecture_epochs)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        # Integer epoch ticks: "epoch 2.5" makes no sense.
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    if title:
        fig.suptitle(title)
    if owns_figure:  # never rearrange a layout the notebook built itself
        fig.tight_layout()
    return fig


def compare_runs(
    runs: Mapping[str, Any],
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
) -> Figure:
    """Several runs' curves on shared axes, one colour per run: training dashed, validation solid.

    Overfitting is a *difference* between runs (one model's validation loss turns up while
    another's keeps falling), which separate figures per run hide. ``runs`` maps a label to a
    Keras ``History`` or its ``.history`` dict; a metric no run has is skipped, and a ``ValueError``
    names the available keys when none is present.
    """
    logs = {label: _history_logs(history) for label, history in runs.items()}
    present = [name for name in metrics
               if any(name in run or VALIDATION_PREFIX + name in run for run in logs.values())]
    if not present:
        available = sorted({key for run in logs.values() for key in run})
        raise ValueError(f"none of the metrics {list(metrics)} are in the runs; available keys: {available}")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes_grid = plt.subplots(1, len(present), figsize=(6 * len(present), 4.2), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for name, ax in zip(present, axes_grid.ravel(), strict=False):
        for number, (label, run) in enumerate(logs.items()):
            colour = colours[number % len(colours)]
            for key, style, suffix in ((name, "--", "train"), (VALIDATION_PREFIX + name, "-", "validation")):
                if key in run:
                    epochs = np.arange(1, len(run[key]) + 1)
                    ax.plot(epochs, run[key], style, color=colour, marker="o", markersize=2.5,
                            label=f"{label}, {suffix}")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def runs_table(runs: Mapping[str, Any], metric: str = "accuracy") -> list[dict[str, Any]]:
    """Print and return one row per run: the last epoch's train and validation ``metric``, their
    gap, and the validation loss at its lowest and at the end.

    A validation loss that ends well above its minimum while training loss keeps falling is the
    signature of overfitting, even when validation accuracy barely moves.
    """
    rows = []
    for label, history in runs.items():
        run = _history_logs(history)
        missing = [key for key in (metric, VALIDATION_PREFIX + metric, "val_loss") if key not in run]
        if missing:
            raise ValueError(f"run {label!r} has no {missing}; available keys: {sorted(run)}")
        val_loss = run["val_loss"]
        best = int(np.argmin(val_loss))
        rows.append({
            "run": label, "epochs": len(val_loss),
            f"train {metric}": run[metric][-1], f"val {metric}": run[VALIDATION_PREFIX + metric][-1],
            "gap": run[metric][-1] - run[VALIDATION_PREFIX + metric][-1],
            "lowest val loss": f"{val_loss[best]:.4f} (epoch {best + 1})", "last val loss": val_loss[-1],
        })
    header = list(rows[0]) if rows else []
    cells = [[_format_value(row[key]) if not isinstance(row[key], str) else row[key] for key in header]
             for row in rows]
    widths = [max(len(str(h)), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
    return rows


def _draw_lecture_line(ax: Axes, value: float, label: str, epochs: Any) -> None:
    """Dashed reference line, annotated with the epoch count the lecture needed to reach it."""
    ax.axhline(value, linestyle="--", color="gray", label=label)
    note = f"{value:.4g}" if epochs is None else f"{value:.4g} after {epochs} epochs"
    # Write the note on the side of the line that has room, so it never crosses the frame.
    bottom, top = ax.get_ylim()
    in_upper_half = value > (bottom + top) / 2
    ax.annotate(
        note,
        xy=(1.0, value),
        xycoords=("axes fraction", "data"),
        xytext=(-4, -3 if in_upper_half else 3),
        textcoords="offset points",
        ha="right",
        va="top" if in_upper_half else "bottom",
        fontsize=8,
        color="gray",
    )


# --------------------------------------------------------------------------- labels


def _class_ids(labels: Any, name: str) -> np.ndarray:
    """Turn labels or predictions into a 1-D array of integer class ids.

    Accepts what Keras code produces: class ids of shape (n,) or (n, 1), one-hot labels or
    softmax probabilities of shape (n, k) (argmax), and sigmoid outputs of a binary model,
    i.e. non-integer floats of shape (n,) or (n, 1) (threshold 0.5).
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] > 1:
        return np.argmax(array, axis=1)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), (n, 1) or (n, classes); got {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if np.all(np.mod(array, 1) == 0):
            return array.astype(np.int64)
        return (array >= 0.5).astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer) and array.dtype != bool:
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _class_count(y_pred: Any, *ids: np.ndarray, class_names: Sequence[str] | None) -> int:
    """Number of classes: from class_names, else the probability width or the largest id."""
    if class_names is not None:
        return len(class_names)
    width = np.shape(y_pred)[1] if np.ndim(y_pred) == 2 else 0
    largest = max((int(part.max()) for part in ids if part.size), default=-1)
    return max(width, largest + 1, 1)


def _class_label(class_id: int, class_names: Sequence[str] | None) -> str:
    return str(class_names[class_id]) if class_names is not None else str(class_id)


def _matched_ids(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    true_ids = _class_ids(y_true, "y_true")
    pred_ids = _class_ids(y_pred, "y_pred")
    if true_ids.shape != pred_ids.shape:
        raise ValueError(
            f"y_true has {true_ids.size} labels but y_pred has {pred_ids.size} predictions"
        )
    return true_ids, pred_ids


# --------------------------------------------------------------------------- confusion matrix


def confusion_counts(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """``counts[true, pred]`` as an int array, computed with numpy alone (no sklearn needed)."""
    true_ids, pred_ids = _matched_ids(y_true, y_pred)
    for name, ids in (("y_true", true_ids), ("y_pred", pred_ids)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"{name} has class ids outside 0..{num_classes - 1} "
                f"(min {ids.min()}, max {ids.max()}); check class_names"
            )
    flat = np.bincount(true_ids * num_classes + pred_ids, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    ax: Axes | None = None,
) -> tuple[Figure, np.ndarray]:
    """Show which classes the model mixes up; return ``(figure, counts)``.

    ``counts[true, pred]`` is always the integer count matrix, so a notebook can compute with
    it. ``y_pred`` may be class ids or the (n, classes) probabilities from ``model.predict``;
    ``y_true`` may be (n,), (n, 1) or one-hot. With ``normalize=True`` the colours and numbers
    show each row as fractions of that true class (per-class recall), which makes rare classes
    as visible as common ones.
    """
    true_ids, pred_ids = _matched_ids(y_true, y_pred)
    num_classes = _class_count(y_pred, true_ids, pred_ids, class_names=class_names)
    counts = confusion_counts(true_ids, pred_ids, num_classes)

    if normalize:
        row_totals = counts.sum(axis=1, keepdims=True)
        shown = np.divide(
            counts, row_totals, out=np.zeros(counts.shape, dtype=float), where=row_totals > 0
        )
    else:
        shown = counts

    plt = _pyplot()
    owns_figure = ax is None
    if ax is None:
        side = min(max(4.0, 0.6 * num_classes + 2), 14.0)
        fig, ax = plt.subplots(figsize=(side + 1, side))
    else:
        fig = ax.figure
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)

    tick_labels = [_class_label(i, class_names) for i in range(num_classes)]
    # Class names are long ("automobile"); slanted ticks keep them from overlapping.
    if class_names is not None:
        ax.set_xticks(range(num_classes), tick_labels, rotation=45, ha="right")
    else:
        ax.set_xticks(range(num_classes), tick_labels)
    ax.set_yticks(range(num_classes), tick_labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / counts.sum() if counts.sum() else float("nan")
    ax.set_title(f"confusion matrix (accuracy {accuracy:.4f}, n={counts.sum()})")

    if num_classes <= MAX_ANNOTATED_CLASSES:
        threshold = shown.max() / 2 if shown.size else 0
        for row in range(num_classes):
            for col in range(num_classes):
                value = shown[row, col]
                text = f"{value:.2f}" if normalize else str(value)
                ax.text(
                    col,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if value > threshold else "black",
                )
    if owns_figure:
        fig.tight_layout()
    return fig, counts


# --------------------------------------------------------------------------- image grids


def _displayable(image: Any) -> tuple[np.ndarray, str | None]:
    """Scale one image to floats in [0, 1] and pick a colormap, whatever the dataset's format.

    Handles (h, w), (h, w, 1) and (h, w, 3); uint8 or floats in [0, 255] are divided by 255,
    and standardised images (negative values) are min-max rescaled so they remain visible.
    """
    pixels = np.asarray(image)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        raise ValueError(f"each image must be (h, w), (h, w, 1) or (h, w, 3); got {pixels.shape}")
    pixels = pixels.astype(np.float32)
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    if low < 0:
        pixels = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
    elif high > 1:
        pixels = pixels / 255.0
    return np.clip(pixels, 0.0, 1.0), "gray" if pixels.ndim == 2 else None


def _message_figure(message: str) -> Figure:
    """A figure that says why there is nothing to plot, instead of an empty cell output."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    ax.set_axis_off()
    return fig


def image_grid(
    images: Any,
    titles: Sequence[str] | None = None,
    n: int = 16,
    cols: int = 8,
) -> Figure:
    """Show the first ``n`` images in a grid of ``cols`` columns, each with an optional title.

    Only as many axes as images are created, so ``len(fig.axes)`` is the number shown.
    """
    images = np.asarray(images)
    count = min(int(n), len(images))
    if titles is not None and len(titles) < count:
        raise ValueError(f"got {len(titles)} titles for {count} images")
    if count <= 0:
        return _message_figure("no images")

    plt = _pyplot()
    cols = max(1, min(int(cols), count))
    rows = math.ceil(count / cols)
    # Widen the columns for long titles such as "true automobile / pred truck".
    longest_title = max((len(str(title)) for title in titles[:count]), default=0) if titles else 0
    column_width = max(1.6, 0.075 * longest_title)
    fig = plt.figure(figsize=(column_width * cols, 1.8 * rows))
    for index in range(count):
        ax = fig.add_subplot(rows, cols, index + 1)
        pixels, cmap = _displayable(images[index])
        ax.imshow(pixels, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[index], fontsize=8)
    fig.tight_layout()
    return fig


def misclassified(
    images: Any,
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str] | None = None,
    n: int = 16,
) -> Figure:
    """Show up to ``n`` wrongly predicted images titled "true X / pred Y".

    Looking at the mistakes tells whether they are understandable (a sloppy 4 read as 9) or a
    sign of a bug (every image predicted as the same class). ``y_pred`` may be class ids or
    probabilities; images may be (n, 28, 28), (n, 28, 28, 1) or (n, 32, 32, 3), uint8 or float.
    """
    true_ids, pred_ids = _matched_ids(y_true, y_pred)
    if len(images) != true_ids.size:
        raise ValueError(f"got {len(images)} images but {true_ids.size} labels")
    wrong = np.flatnonzero(true_ids != pred_ids)
    if wrong.size == 0:
        return _message_figure("no misclassified examples")

    shown = wrong[: max(0, int(n))]
    titles = [
        f"true {_class_label(true_ids[i], class_names)} / "
        f"pred {_class_label(pred_ids[i], class_names)}"
        for i in shown
    ]
    # Class names make titles long; fewer, wider columns keep the images a useful size.
    columns = 4 if class_names is not None else 8
    fig = image_grid(np.asarray(images)[shown], titles=titles, n=len(shown), cols=columns)
    fig.suptitle(f"{wrong.size} of {true_ids.size} misclassified (showing {len(shown)})")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- lecture table


def _final_value(value: Any) -> Any:
    """A per-epoch list (as in ``history.history``) is compared by its last epoch."""
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        return np.ravel(value)[-1] if np.size(value) else None
    return value


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, Real):
        return f"{float(value):.4f}"
    return str(value)


def compare_with_lecture(ours: Mapping[str, Any], lecture: Mapping[str, Any]) -> str:
    """Print and return an aligned table of the metrics both runs report.

    Rows read ``val_accuracy | lecture 0.9874 | ours 0.9836 | diff -0.0038 | epochs 10 vs 2``
    (lecture first). The epoch column is there because a gap after fewer epochs is expected,
    not a bug. ``ours`` may be ``history.history``: per-epoch lists are compared by their last
    value and their length counts as our epochs.
    """
    our_epochs = ours.get("epochs")
    if our_epochs is None:
        lengths = {
            np.size(value)
            for value in ours.values()
            if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str)
        }
        our_epochs = lengths.pop() if len(lengths) == 1 else None
    lecture_epochs = lecture.get("epochs")

    shared = [key for key in lecture if key in ours and key != "epochs"]
    if not shared:
        table = f"no metric in both: lecture has {sorted(lecture)}, ours has {sorted(ours)}"
        print(table)
        return table

    rows = []
    for key in shared:
        lecture_value, our_value = _final_value(lecture[key]), _final_value(ours[key])
        numeric = all(
            isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
            for value in (lecture_value, our_value)
        )
        diff = f"{float(our_value) - float(lecture_value):+.4f}" if numeric else "-"
        row = [
            key,
            f"lecture {_format_value(lecture_value)}",
            f"ours {_format_value(our_value)}",
            f"diff {diff}",
        ]
        if lecture_epochs is not None or our_epochs is not None:
            row.append(f"epochs {_format_value(lecture_epochs)} vs {_format_value(our_epochs)}")
        rows.append(row)

    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    table = "\n".join(
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    print(table)
    return table


# --------------------------------------------------------------------------- autoencoders and VAEs


def _as_images(images: Any) -> np.ndarray:
    """Images as (n, h, w[, c]); flat vectors whose length is a square (784) become square images,
    so a dense autoencoder's inputs and outputs can be shown without reshaping them first."""
    array = np.asarray(images)
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise ValueError(f"flat images of length {array.shape[1]} are not square; reshape them first")
        array = array.reshape(len(array), side, side)
    return array


def reconstructions(rows: Sequence[Any], titles: Sequence[str], n: int = 10) -> Figure:
    """One row of ``n`` images per entry of ``rows``, labelled by ``titles``: the originals above
    what a model made of them (e.g. original / reconstructed, or noisy / denoised / clean).

    Column ``j`` of every row is the same test sample, so a reconstruction is always read directly
    below its original. Flat 784-pixel rows (a dense autoencoder's) are shown as 28x28 images.
    """
    if len(rows) != len(titles):
        raise ValueError(f"got {len(rows)} rows of images but {len(titles)} titles")
    arrays = [_as_images(row) for row in rows]
    if not arrays:
        return _message_figure("no images")
    count = min([int(n)] + [len(array) for array in arrays])
    if count <= 0:
        return _message_figure("no images")
    plt = _pyplot()
    fig, axes = plt.subplots(len(arrays), count, figsize=(1.1 * count + 1.2, 1.2 * len(arrays)),
                             squeeze=False)
    for row, (array, title) in enumerate(zip(arrays, titles, strict=True)):
        for column in range(count):
            ax = axes[row, column]
            pixels, cmap = _displayable(array[column])
            ax.imshow(pixels, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        # A y-label, not a title: it stays beside its row however many rows there are.
        axes[row, 0].set_ylabel(str(title), rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def latent_scatter(
    z: Any,
    labels: Any,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Scatter the first two latent coordinates of each sample, coloured by its class.

    The labels are not used in training a VAE; colouring by them shows whether the encoder has
    nevertheless put the digits of one kind near each other (clusters) and how much they overlap.
    """
    points = np.asarray(z, dtype=float)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"z must have shape (n, 2) or wider, got {points.shape}")
    ids = _class_ids(labels, "labels")
    if len(ids) != len(points):
        raise ValueError(f"got {len(points)} latent points but {len(ids)} labels")
    plt = _pyplot()
    owns_figure = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
    else:
        fig = ax.figure
    num_classes = _class_count(None, ids, class_names=class_names)
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20", num_classes)
    dots = ax.scatter(points[:, 0], points[:, 1], c=ids, cmap=cmap, vmin=-0.5,
                      vmax=num_classes - 0.5, s=6, alpha=0.8)
    colorbar = fig.colorbar(dots, ax=ax, ticks=range(num_classes))
    colorbar.ax.set_yticklabels([_class_label(i, class_names) for i in range(num_classes)])
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"latent space of {len(points)} samples")
    if owns_figure:
        fig.tight_layout()
    return fig


def latent_grid(
    decoder: Any, n: int = 15, span: float = 2.0, image_shape: Sequence[int] = (28, 28)
) -> Figure:
    """Decode an ``n`` x ``n`` grid of latent points evenly spaced over [-span, span]^2, as one image.

    ``decoder`` is anything that maps an (n*n, 2) float32 array to images (a Keras decoder model).
    As in keras-io's VAE example, z[0] grows to the right and z[1] upwards, so the picture lies
    the same way as ``latent_scatter``.
    """
    values = np.linspace(-span, span, int(n))
    z0, z1 = np.meshgrid(values, values[::-1])  # the top row has the largest z[1]
    points = np.stack([z0.ravel(), z1.ravel()], axis=1).astype("float32")
    decoded = np.asarray(decoder(points), dtype=float)
    height, width = int(image_shape[0]), int(image_shape[1])
    tiles = decoded.reshape(int(n), int(n), height, width)
    picture = tiles.transpose(0, 2, 1, 3).reshape(int(n) * height, int(n) * width)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(np.clip(picture, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ticks = np.arange(int(n)) * width + width // 2
    labels = [f"{value:.1f}" for value in values]
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_yticks(np.arange(int(n)) * height + height // 2, labels[::-1], fontsize=7)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"decoded latent grid, {int(n)} x {int(n)} points over [{-span:g}, {span:g}]\u00b2")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- uncertainty


def confidence_bars(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Accuracy per confidence bin, most confident bin first (``uncertainty.accuracy_by_confidence``).

    If the uncertainty means anything ("order coherence", lecture 000), the bars fall from left
    to right. ``rows`` may also map a name to such a list (e.g. MNIST and Fashion-MNIST): the
    bins are then drawn side by side, one colour per name.
    """
    groups = dict(rows) if isinstance(rows, Mapping) else {"": rows}
    if not groups or not all(len(group) for group in groups.values()):
        return _message_figure("no bins")
    bins = len(next(iter(groups.values())))
    if any(len(group) != bins for group in groups.values()):
        raise ValueError("every group needs the same number of bins")
    plt = _pyplot()
    owns_figure = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * bins * len(groups) + 2), 4))
    else:
        fig = ax.figure
    width = 0.8 / len(groups)
    lowest = 1.0
    for number, (name, group) in enumerate(groups.items()):
        accuracies = [float(row["accuracy"]) for row in group]
        lowest = min(lowest, *accuracies)
        positions = np.arange(1, bins + 1) + (number - (len(groups) - 1) / 2) * width
        bars = ax.bar(positions, accuracies, width=width, label=name or None)
        ax.bar_label(bars, labels=[f"{value:.2f}" for value in accuracies], fontsize=7)
    ax.set_xticks(range(1, bins + 1), [f"{number}" for number in range(1, bins + 1)])
    ax.set_xlabel("confidence bin: 1 = smallest spread (most confident) ... "
                  f"{bins} = largest spread (most uncertain)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(max(0.0, lowest - 0.1), 1.05)
    ax.set_title(title or "accuracy by confidence")
    if len(groups) > 1:
        ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    if owns_figure:
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- confusion matrix from counts


def confusion_from_counts(
    counts: Any,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    highlight: int = 0,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw a confusion matrix that is already counted, ``counts[true, pred]`` (e.g. the one a
    participant computed with NumPy), in the same style as ``confusion_matrix``.

    ``highlight`` frames that many off-diagonal cells with the largest counts in red: the pairs of
    classes the model mixes up most (Fashion-MNIST: a shirt called a T-shirt, a pullover a coat).
    With ``normalize=True`` each row shows fractions of its true class, so the diagonal is the
    per-class accuracy. ``ax`` puts the matrix into a notebook's own figure, e.g. two side by side.
    """
    matrix = np.asarray(counts)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"counts must be a square (classes, classes) matrix; got shape {matrix.shape}")
    if np.any(matrix < 0) or not np.all(np.mod(matrix, 1) == 0):
        raise ValueError("counts must hold whole, non-negative numbers of images (counts[true, pred])")
    num_classes = matrix.shape[0]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"got {len(class_names)} class names for a {num_classes} x {num_classes} matrix")
    matrix = matrix.astype(np.int64)
    # One (true, pred) id pair per counted image; confusion_matrix then counts them back exactly.
    true_ids = np.repeat(np.arange(num_classes), matrix.sum(axis=1))
    pred_ids = np.concatenate([np.repeat(np.arange(num_classes), row) for row in matrix])
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    fig, _ = confusion_matrix(true_ids, pred_ids, names, normalize=normalize, ax=ax)
    ax = ax if ax is not None else fig.axes[0]
    if highlight > 0:
        from matplotlib.patches import Rectangle

        off_diagonal = matrix.copy()
        np.fill_diagonal(off_diagonal, 0)
        largest = np.argsort(off_diagonal, axis=None, kind="stable")[::-1][: int(highlight)]
        for row, col in zip(*np.unravel_index(largest, matrix.shape), strict=True):
            if off_diagonal[row, col] > 0:
                ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red",
                                       linewidth=2))
    if title:
        ax.set_title(title)
    return fig
