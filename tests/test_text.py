"""Lab 11's text pipeline: vocabulary, vectorizing, the end-to-end model saved and reloaded."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from workbench import models, tasks, text  # noqa: E402
from workbench.data import epoch_batches  # noqa: E402

REVIEWS = np.array([
    "A wonderful film.<br /><br />The acting was WONDERFUL!",
    "Dull, dull, dull. I fell asleep.",
    "The plot was thin but the music was wonderful",
    "Worst film of the year; the acting was dull",
], dtype=object)


def test_standardization_drops_html_breaks_case_and_punctuation():
    cleaned = np.asarray(text.standardize_review(tf.constant(["Great!<br /><br />Really GREAT."])))
    assert cleaned[0].decode() == "great  really great"


def test_the_vocabulary_does_not_depend_on_the_order_of_the_text():
    # Every rank of a data-parallel run adapts on the training text itself: the ids must agree.
    first = text.adapt(text.vectorizer(50, 8), REVIEWS).get_vocabulary()
    shuffled = text.adapt(text.vectorizer(50, 8), REVIEWS[[2, 0, 3, 1]]).get_vocabulary()
    assert first == shuffled
    assert first[:2] == ["", "[UNK]"] and first[2] == "the" and "br" not in first


def test_vectorizer_pads_cuts_and_marks_unknown_words():
    layer = text.adapt(text.vectorizer(vocab_size=6, sequence_length=5), REVIEWS)
    ids = text.vectorize(layer, ["the film", "zebra " * 10])
    assert ids.shape == (2, 5) and ids.dtype == np.int64
    assert ids[0, 2:].tolist() == [0, 0, 0]  # padded with 0: what mask_zero skips
    assert ids[1].tolist() == [1] * 5  # cut to 5, every word unknown (id 1)
    assert ids.max() < 6


@pytest.mark.parametrize("vocab_size, sequence_length", [(2, 10), (100, 0)])
def test_impossible_sizes_are_refused(vocab_size, sequence_length):
    with pytest.raises(ValueError, match="vocab_size|sequence_length"):
        text.vectorizer(vocab_size, sequence_length)


def test_the_task_vectorizes_in_the_pipeline_and_shards_disjointly():
    task = tasks.TextClassification(vocab_size=40, sequence_length=6)
    task.prepare(None, REVIEWS)
    x, y = task.examples(np.tile(REVIEWS, 5), np.tile([1, 0, 1, 0], 5), None)
    shards = [list(epoch_batches(x, y, batch_size=2, pair=task.pair, shard=(2, rank))) for rank in (0, 1)]
    assert [len(s) for s in shards] == [5, 5]  # equal lengths: no rank waits in an all-reduce
    for batch_ids, batch_labels in shards[0]:
        assert batch_ids.shape == (2, 6) and batch_ids.dtype == tf.int64
        assert batch_labels.dtype == tf.float32
    expected = task.validation_data(x, y)[0]
    rows = {tuple(r) for s in shards for ids, _ in s for r in np.asarray(ids)}
    assert rows <= {tuple(r) for r in expected}  # the same ids as vectorizing up front


def test_control_characters_in_reviews_do_not_break_the_saved_vocabulary(tmp_path):
    # IMDB's reviews hold Windows-1252 punctuation read as C1 controls ("\x85" for an ellipsis);
    # Keras writes the vocabulary one token per line and reads it back with str.splitlines(),
    # which also breaks at those: a token holding one reloaded as two, a repeated term.
    reviews = np.array(["A fine film\x85 really.", "Dull\x96boring\u2028 stuff", "great great film"],
                       dtype=object)
    layer = text.adapt(text.vectorizer(40, 8), reviews)
    assert not any(ch in token for token in layer.get_vocabulary() for ch in "\x85\x96\u2028")
    complete = text.end_to_end(layer, models.build("imdb_bilstm", vocab_size=40))
    complete.save(tmp_path / "m.keras")
    reloaded = text.load(tmp_path / "m.keras")
    assert np.allclose(text.predict(reloaded, reviews), text.predict(complete, reviews))


def test_the_end_to_end_model_reloads_and_predicts_the_same_on_raw_strings(tmp_path):
    task = tasks.TextClassification(vocab_size=40, sequence_length=12)
    task.prepare(None, REVIEWS)
    keras.utils.set_random_seed(0)
    model = models.build("imdb_bilstm", **task.model_settings(None))
    task.compile(model, keras.optimizers.Adam(global_clipnorm=1.0))
    x, y = task.examples(REVIEWS, [1, 0, 1, 0], None)
    model.fit(epoch_batches(x, y, batch_size=4, pair=task.pair), epochs=1, verbose=0)
    complete = text.end_to_end(task.vectorizer, model)
    sentences = ["What a wonderful film", "dull and thin", "I have never seen anything like it"]
    before = text.predict(complete, sentences)
    assert before.shape == (3,) and np.all((before > 0) & (before < 1))
    # The end-to-end model is the trained model's logit through a sigmoid.
    logits = np.asarray(model(text.vectorize(task.vectorizer, sentences))).reshape(-1)
    assert np.allclose(before, 1 / (1 + np.exp(-logits)), atol=1e-5)
    path = tmp_path / "sentiment.keras"
    complete.save(path)
    reloaded = text.load(path)
    assert np.allclose(text.predict(reloaded, sentences), before, atol=1e-6)


def test_text_task_evaluates_logits_at_zero():
    class Fixed:
        def __call__(self, x, training=False):
            return np.array([[2.0], [-1.0], [0.5], [-3.0]])

    metrics = tasks.TextClassification().evaluate(Fixed(), np.zeros((4, 3)), np.array([1.0, 0.0, 0.0, 0.0]))
    assert metrics["accuracy"] == 0.75
    expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0)), np.log1p(np.exp(0.5)),
                        np.log1p(np.exp(-3.0))])
    assert metrics["loss"] == pytest.approx(expected)
