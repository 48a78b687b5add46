"""Raw text -> integer sequences, and back to a model that reads raw strings (the IMDB lab).

The lab's lesson, in the order keras-io teaches it:

1. a ``TextVectorization`` layer learns its vocabulary from the *training* text (``adapt`` reads
   a ``tf.data`` pipeline of batches of strings, so the corpus never has to fit in one tensor);
2. training reads ``(token ids, label)`` pairs: the strings are vectorized in the ``tf.data``
   pipeline, on the CPU, while the accelerator trains on the previous batch;
3. once trained, the vectorizer and the model are joined into one end-to-end model that takes raw
   strings, which is what gets saved, reloaded and asked about sentences a participant types.

The vocabulary is a deterministic function of the text: Keras sorts tokens by count and breaks
ties by the token itself, so every rank of a data-parallel run that adapts on the same training
text gets the same ids without exchanging anything (tested, also with the text shuffled).
"""

from __future__ import annotations

import numpy as np

# The reviews contain HTML line breaks ("<br /><br />"); kept, they would become the tokens "br".
HTML_BREAK = "<br />"
PUNCTUATION = r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']"
# Windows-1252 punctuation read as C1 control characters ("\x85" for an ellipsis, "\x96" for a dash)
# and the other characters str.splitlines() breaks at: Keras saves the vocabulary one token per line
# and reads it back with splitlines(), so a token holding one of them would not reload.
LINE_BREAKING = r"[\x{1c}-\x{1e}\x{80}-\x{9f}\x{2028}\x{2029}]"


def standardize_review(text):
    """Lower-case, drop HTML line breaks and punctuation: the IMDB reviews' own clean-up.

    Registered with Keras so that a saved end-to-end model (``.keras``) reloads with it; the
    module must be imported before ``keras.models.load_model`` (``workbench.text.load``).
    """
    import tensorflow as tf

    lowered = tf.strings.lower(text)
    no_breaks = tf.strings.regex_replace(lowered, HTML_BREAK, " ")
    no_controls = tf.strings.regex_replace(no_breaks, LINE_BREAKING, " ")
    return tf.strings.regex_replace(no_controls, PUNCTUATION, "")


def _register() -> None:
    import keras

    keras.saving.register_keras_serializable(package="workbench", name="standardize_review")(
        standardize_review)


def vectorizer(vocab_size: int = 20000, sequence_length: int = 200):
    """A ``TextVectorization`` layer giving ``sequence_length`` ids per review, at most ``vocab_size``
    distinct ids: 0 is padding (the ``Embedding``'s mask), 1 an out-of-vocabulary word."""
    import keras

    if vocab_size < 3:
        raise ValueError(f"vocab_size {vocab_size} is too small: ids 0 and 1 are padding and unknown")
    if sequence_length < 1:
        raise ValueError(f"sequence_length must be at least 1, got {sequence_length}")
    _register()
    return keras.layers.TextVectorization(max_tokens=vocab_size, output_mode="int",
                                          output_sequence_length=sequence_length,
                                          standardize=standardize_review, name="vectorizer")


def adapt(layer, texts, batch_size: int = 512):
    """Learn the vocabulary from ``texts`` read as a ``tf.data`` pipeline of string batches."""
    import tensorflow as tf

    layer.adapt(tf.data.Dataset.from_tensor_slices(as_strings(texts)).batch(batch_size))
    return layer


def as_strings(texts) -> np.ndarray:
    """Reviews as a NumPy object array of ``str``, which ``tf.data`` and the vectorizer accept.

    Not a fixed-width unicode array: that would pad every review to the longest one (13,704
    characters in IMDB's training set, 4 bytes each: 1.4 GB for 25,000 reviews).
    """
    return np.asarray([str(review) for review in texts], dtype=object)


def vectorize(layer, texts, batch_size: int = 1024) -> np.ndarray:
    """All of ``texts`` as an ``(n, sequence_length)`` int array (the fixed validation/test input)."""
    texts = as_strings(texts)
    parts = [np.asarray(layer(texts[start:start + batch_size])) for start in range(0, len(texts), batch_size)]
    return np.concatenate(parts).astype("int64") if parts else np.zeros((0, 0), "int64")


def end_to_end(layer, model):
    """Raw strings in, probability of a positive review out: vectorizer -> model -> sigmoid.

    Trained on ids, the model ends in a logit; the end-to-end model adds the sigmoid so that what
    a user gets back is a probability.
    """
    import keras

    strings = keras.Input(shape=(1,), dtype="string", name="review")
    ids = layer(strings)
    probability = keras.layers.Activation("sigmoid", name="probability")(model(ids))
    return keras.Model(strings, probability, name=f"{model.name}_end_to_end")


def load(path):
    """Reload a saved end-to-end model (its standardization function registered first)."""
    import keras

    _register()
    return keras.models.load_model(path)


def predict(end_to_end_model, sentences) -> np.ndarray:
    """Probabilities that each sentence is a positive review."""
    strings = as_strings(list(sentences)).reshape(-1, 1)
    return np.asarray(end_to_end_model(strings)).reshape(-1)
