"""Tests for workbench.plots: the numbers behind the plots, and the cheap-import promise."""

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # no display on CI or a login node

import matplotlib.pyplot as plt  # noqa: E402

from workbench import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Each test leaves no figure open, so pyplot never warns about too many figures."""
    yield
    plt.close("all")


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def all_texts(fig):
    return [text.get_text() for ax in fig.axes for text in ax.texts]


# --------------------------------------------------------------------------- confusion matrix

Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 0, 2])
EXPECTED_COUNTS = np.array(
    [
        [1, 1, 0],
        [0, 2, 0],
        [1, 0, 2],
    ]
)


def test_confusion_matrix_counts_hand_made_example():
    fig, counts = plots.confusion_matrix(Y_TRUE, Y_PRED)
    assert counts.dtype.kind == "i"
    np.testing.assert_array_equal(counts, EXPECTED_COUNTS)
    assert counts.sum() == len(Y_TRUE)
    # every cell is annotated with its count
    assert sorted(all_texts(fig)) == sorted(str(value) for value in EXPECTED_COUNTS.ravel())


def test_confusion_matrix_accepts_probabilities_and_column_labels():
    probabilities = np.full((len(Y_PRED), 3), 0.1)
    probabilities[np.arange(len(Y_PRED)), Y_PRED] = 0.8
    _, counts = plots.confusion_matrix(Y_TRUE.reshape(-1, 1), probabilities)
    np.testing.assert_array_equal(counts, EXPECTED_COUNTS)


def test_confusion_matrix_uses_class_names_and_their_count():
    names = ["cat", "dog", "bird", "frog"]
    fig, counts = plots.confusion_matrix(Y_TRUE, Y_PRED, class_names=names)
    assert counts.shape == (4, 4)  # a class never seen still gets a row and a column
    np.testing.assert_array_equal(counts[:3, :3], EXPECTED_COUNTS)
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == names
    assert [label.get_text() for label in ax.get_xticklabels()] == names


def test_confusion_matrix_normalize_shows_row_fractions_but_returns_counts():
    fig, counts = plots.confusion_matrix(Y_TRUE, Y_PRED, normalize=True)
    np.testing.assert_array_equal(counts, EXPECTED_COUNTS)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown.sum(axis=1), 1.0)
    assert "0.67" in all_texts(fig)


def test_confusion_matrix_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="7 labels but y_pred has 6"):
        plots.confusion_matrix(Y_TRUE, Y_PRED[:6])


def test_confusion_matrix_draws_into_given_axes():
    fig, ax = plt.subplots()
    returned, _ = plots.confusion_matrix(Y_TRUE, Y_PRED, ax=ax)
    assert returned is fig
    assert ax.images


# --------------------------------------------------------------------------- misclassified


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((28, 28), np.uint8),
        ((28, 28, 1), np.float32),
        ((32, 32, 3), np.uint8),
        ((32, 32, 3), np.float32),
    ],
)
def test_misclassified_shows_exactly_the_wrong_ones(shape, dtype):
    rng = np.random.default_rng(0)
    images = rng.random((len(Y_TRUE), *shape))
    images = (images * 255).astype(dtype) if dtype == np.uint8 else images.astype(dtype)
    names = ["zero", "one", "two"]
    fig = plots.misclassified(images, Y_TRUE, Y_PRED, class_names=names)
    shown = image_axes(fig)
    assert len(shown) == 2  # indices 1 and 5 are wrong
    assert [ax.get_title() for ax in shown] == ["true zero / pred one", "true two / pred zero"]
    np.testing.assert_array_equal(shown[0].images[0].get_array().shape[:2], shape[:2])


def test_misclassified_accepts_probabilities_and_limits_to_n():
    y_true = np.array([0, 1, 2, 3, 4, 5]).reshape(-1, 1)
    y_pred = np.array([1, 2, 3, 4, 5, 0])  # all wrong
    probabilities = np.eye(6)[y_pred]
    images = np.zeros((6, 28, 28), dtype=np.uint8)
    fig = plots.misclassified(images, y_true, probabilities, n=4)
    shown = image_axes(fig)
    assert len(shown) == 4
    assert [ax.get_title() for ax in shown] == [
        "true 0 / pred 1",
        "true 1 / pred 2",
        "true 2 / pred 3",
        "true 3 / pred 4",
    ]


def test_misclassified_without_mistakes_says_so():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    fig = plots.misclassified(images, [0, 1, 2], [0, 1, 2])
    assert not image_axes(fig)
    assert "no misclassified examples" in all_texts(fig)


def test_image_grid_creates_one_axes_per_image():
    images = np.random.default_rng(1).random((11, 28, 28, 1))
    fig = plots.image_grid(images, titles=[str(i) for i in range(11)], n=10, cols=4)
    assert len(fig.axes) == 10
    assert [ax.get_title() for ax in fig.axes] == [str(i) for i in range(10)]
    pixels = fig.axes[0].images[0].get_array()
    assert pixels.min() >= 0 and pixels.max() <= 1


# --------------------------------------------------------------------------- learning curves

HISTORY = {
    "loss": [0.5, 0.3, 0.2],
    "accuracy": [0.85, 0.92, 0.95],
    "val_loss": [0.4, 0.3, 0.25],
    "val_accuracy": [0.88, 0.91, 0.93],
}


class FakeHistory:
    """Stands in for keras.callbacks.History, which only needs a ``.history`` dict here."""

    def __init__(self, history):
        self.history = history


def test_learning_curves_one_axes_per_metric_with_train_and_validation():
    fig = plots.learning_curves(FakeHistory(HISTORY), title="MNIST")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax in fig.axes:
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["train", "validation"]
        np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])  # 1-based
    assert fig._suptitle.get_text() == "MNIST"


def test_learning_curves_draws_lecture_line():
    lecture = {"val_accuracy": 0.9874, "epochs": 10}
    fig = plots.learning_curves(HISTORY, lecture=lecture)
    accuracy_ax = fig.axes[1]
    lecture_lines = [line for line in accuracy_ax.get_lines() if line.get_label() == "lecture"]
    assert len(lecture_lines) == 1
    assert lecture_lines[0].get_linestyle() == "--"
    assert list(lecture_lines[0].get_ydata()) == [0.9874, 0.9874]
    assert not [line for line in fig.axes[0].get_lines() if line.get_label() == "lecture"]


def test_learning_curves_skips_missing_metrics():
    history = {"loss": [0.5, 0.3], "val_loss": [0.6, 0.4]}
    fig = plots.learning_curves(history, metrics=("loss", "accuracy", "auc"))
    assert [ax.get_title() for ax in fig.axes] == ["loss"]


def test_learning_curves_validation_only_metric_still_plotted():
    fig = plots.learning_curves({"val_accuracy": [0.5, 0.6]}, metrics=("accuracy",))
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["validation"]


def test_learning_curves_without_any_requested_metric_names_available_keys():
    with pytest.raises(ValueError, match="available keys") as error:
        plots.learning_curves(HISTORY, metrics=("acc", "auc"))
    for key in HISTORY:
        assert key in str(error.value)


def test_learning_curves_draws_into_given_axes():
    fig, axes = plt.subplots(2, 1)
    returned = plots.learning_curves(HISTORY, axes=axes)
    assert returned is fig
    assert all(ax.get_lines() for ax in axes)


def test_compare_runs_one_colour_per_run_train_dashed_validation_solid():
    other = {key: [v * 0.9 for v in values] for key, values in HISTORY.items()}
    fig = plots.compare_runs({"plain": FakeHistory(HISTORY), "dropout": other}, title="MNIST")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == [
        "plain, train", "plain, validation", "dropout, train", "dropout, validation"]
    assert [line.get_linestyle() for line in lines] == ["--", "-", "--", "-"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    np.testing.assert_allclose(lines[3].get_ydata(), [0.36, 0.27, 0.225])


def test_compare_runs_without_any_metric_names_available_keys():
    with pytest.raises(ValueError, match="available keys.*val_loss"):
        plots.compare_runs({"plain": HISTORY}, metrics=("auc",))


def test_runs_table_reports_gap_and_where_validation_loss_was_lowest(capsys):
    rising = {"loss": [0.3, 0.1, 0.05], "accuracy": [0.9, 0.97, 0.99],
              "val_loss": [0.2, 0.1, 0.3], "val_accuracy": [0.95, 0.97, 0.96]}
    rows = plots.runs_table({"plain": HISTORY, "overfits": rising})
    assert rows[1]["lowest val loss"] == "0.1000 (epoch 2)" and rows[1]["last val loss"] == 0.3
    assert rows[1]["gap"] == pytest.approx(0.03)
    assert rows[0]["lowest val loss"] == "0.2500 (epoch 3)"
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:2] == ["run", "epochs"] and printed[2].startswith("overfits")


def test_runs_table_names_a_missing_metric():
    with pytest.raises(ValueError, match="'loose'.*val_loss"):
        plots.runs_table({"loose": {"accuracy": [0.5], "val_accuracy": [0.5]}})


# --------------------------------------------------------------------------- lecture table


def test_compare_with_lecture_shows_both_numbers(capsys):
    ours = {"val_accuracy": 0.9836, "epochs": 2, "loss": 0.05}
    lecture = {"val_accuracy": 0.9874, "epochs": 10, "test_accuracy": 0.99}
    table = plots.compare_with_lecture(ours, lecture)
    assert "0.9874" in table and "0.9836" in table
    assert "val_accuracy" in table
    assert "epochs 10 vs 2" in table
    assert "test_accuracy" not in table and "loss" not in table  # only keys in both
    assert capsys.readouterr().out.strip() == table.strip()


def test_compare_with_lecture_aligns_columns_and_reads_history_lists():
    history = {"loss": [0.3, 0.1], "val_accuracy": [0.97, 0.9836]}
    lecture = {"loss": 0.04, "val_accuracy": 0.9874, "epochs": 10}
    table = plots.compare_with_lecture(history, lecture)
    lines = table.splitlines()
    assert len(lines) == 2
    assert len({line.index("| ours") for line in lines}) == 1  # columns line up
    assert "ours 0.9836" in table and "epochs 10 vs 2" in table


def test_compare_with_lecture_without_shared_keys_says_so():
    table = plots.compare_with_lecture({"loss": 0.1}, {"val_accuracy": 0.98})
    assert "no metric in both" in table


# --------------------------------------------------------------------------- autoencoders and VAEs


def test_reconstructions_one_row_per_kind_with_flat_images_made_square():
    originals = np.random.default_rng(0).random((12, 784))
    fig = plots.reconstructions([originals, originals[:, ::-1], originals.reshape(-1, 28, 28, 1)],
                                ["original", "reversed", "square"], n=10)
    assert len(image_axes(fig)) == 30
    assert [fig.axes[row * 10].get_ylabel() for row in range(3)] == ["original", "reversed", "square"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), originals[0].reshape(28, 28))
    np.testing.assert_allclose(fig.axes[10].images[0].get_array(), originals[0, ::-1].reshape(28, 28))
    with pytest.raises(ValueError, match="2 titles"):
        plots.reconstructions([originals] * 3, ["a", "b"])
    with pytest.raises(ValueError, match="not square"):
        plots.reconstructions([np.zeros((2, 10))], ["a"])


def test_latent_scatter_colours_by_class():
    z = np.random.default_rng(0).normal(size=(50, 2))
    labels = np.arange(50) % 10
    fig = plots.latent_scatter(z, labels)
    dots = fig.axes[0].collections[0]
    np.testing.assert_allclose(dots.get_offsets(), z)
    np.testing.assert_array_equal(dots.get_array(), labels)
    assert [tick.get_text() for tick in fig.axes[1].get_yticklabels()] == [str(i) for i in range(10)]
    with pytest.raises(ValueError, match="50 latent points but 49 labels"):
        plots.latent_scatter(z, labels[:49])


def test_latent_grid_puts_growing_z0_right_and_growing_z1_up():
    seen = []

    def decoder(points):  # brightness encodes z[0] on the left half of each tile, z[1] on the right
        seen.append(points)
        tiles = np.zeros((len(points), 28, 28, 1))
        tiles[:, :, :14, 0] = ((points[:, 0] + 2) / 4)[:, None, None]
        tiles[:, :, 14:, 0] = ((points[:, 1] + 2) / 4)[:, None, None]
        return tiles

    fig = plots.latent_grid(decoder, n=5, span=2.0)
    assert seen[0].shape == (25, 2) and seen[0].dtype == np.float32
    picture = np.asarray(fig.axes[0].images[0].get_array())
    assert picture.shape == (5 * 28, 5 * 28)
    assert picture[0, 0] == 0.0 and picture[0, 4 * 28] == 1.0  # z[0]: -2 left, +2 right
    assert picture[0, 20] == 1.0 and picture[4 * 28, 20] == 0.0  # z[1]: +2 top, -2 bottom


# --------------------------------------------------------------------------- uncertainty


def test_confidence_bars_one_bar_per_bin_most_confident_first():
    rows = [{"bin": i + 1, "accuracy": accuracy} for i, accuracy in enumerate([1.0, 0.9, 0.5])]
    fig = plots.confidence_bars(rows, title="MNIST")
    bars = fig.axes[0].patches
    assert [bar.get_height() for bar in bars] == [1.0, 0.9, 0.5]
    assert [bar.get_x() + bar.get_width() / 2 for bar in bars] == pytest.approx([1, 2, 3])
    assert fig.axes[0].get_title() == "MNIST"
    both = plots.confidence_bars({"mnist": rows, "fashion": rows[::-1]})
    assert len(both.axes[0].patches) == 6
    assert [text.get_text() for text in both.axes[0].get_legend().get_texts()] == ["mnist", "fashion"]
    with pytest.raises(ValueError, match="same number of bins"):
        plots.confidence_bars({"a": rows, "b": rows[:2]})


# --------------------------------------------------------------------------- cheap import


def test_importing_plots_does_not_import_matplotlib_or_tensorflow():
    code = (
        "import sys, workbench.plots; "
        "print(sorted(m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
