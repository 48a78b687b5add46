"""What a lab learns, one object per kind: image -> class, image -> image, noisy -> clean, VAE.

A lab's recipe names its task. The task owns everything that depends on *what* is learned, so the
driver and the strategies never ask:

* ``prepare``: what preprocessing learns from the training set (the text task's vocabulary);
* ``model_settings``: what the model must be built with (classes, vocabulary size);
* ``examples``: model-ready arrays from what ``data.load`` returns (scaled, shaped);
* ``pair``: how one training sample becomes (input, target) inside the ``tf.data`` pipeline
  (the denoising task corrupts the input there, freshly for every epoch; the text task turns a
  review into token ids); ``mix``: what is done to a whole batch (mixup);
* ``validation_data``: the fixed (input, target) pair that is validated and tested on;
* ``compile``: the loss and metrics (a VAE brings its loss in its own ``train_step``);
* ``evaluate``: the figures reported at the end, computed with plain model calls so that the
  same code runs under every strategy (``model.evaluate`` shares ``fit``'s multi-worker failure);
  ``headline`` names the one compared with the lecture's or the reference's result;
* ``board_callbacks``: what the run shows in TensorBoard's IMAGES tab.

Adding a kind of lab is one subclass registered in ``TASKS``; adding a lab of an existing kind
touches nothing here.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from workbench.options import Option

TEST_NOISE_SEED = 1234  # the denoising lab's fixed noisy test set


def scale_images(images: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], reshaped to the model's input (adds the channel axis)."""
    return (images.astype("float32") / 255.0).reshape((len(images),) + tuple(input_shape))


def _batches(count: int, batch_size: int):
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


def psnr(clean: np.ndarray, other: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]: 10 log10(1 / mean squared error)."""
    mse = float(np.mean((np.asarray(clean, "float64") - np.asarray(other, "float64")) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


class Task:
    """The base: a supervised mapping whose samples are ``(x, y)`` and whose targets are fixed."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    headline: ClassVar[str] = "loss"  # the key of evaluate() that the lab reports
    higher_is_better: ClassVar[bool] = False
    options: ClassVar[tuple[Option, ...]] = ()  # task settings that are lab options too
    advice: ClassVar[str] = ""  # what to look at when the headline figure misses its target
    pair = None  # or a method pair(sample, seed) -> (input, target) used in the tf.data pipeline
    mix = None  # or a method mix(batch, seed) -> batch, applied to each batch after pair

    def __init__(self, **settings):
        unknown = set(settings) - {option.name for option in self.options}
        if unknown:
            raise TypeError(f"task {self.name} has no setting(s) {', '.join(sorted(unknown))}")
        self.settings = {option.name: settings.get(option.name, option.default) for option in self.options}

    @classmethod
    def from_options(cls, values: dict) -> Task:
        return cls(**{option.name: values[option.name] for option in cls.options})

    def prepare(self, spec, x_train) -> None:
        """Learn what preprocessing needs from the training inputs; images need nothing."""

    def model_settings(self, spec) -> dict:
        """Keyword arguments the model builder needs from the data (``spec`` is its DatasetSpec)."""
        return {}

    def examples(self, images, labels, input_shape) -> tuple[np.ndarray, np.ndarray | None]:
        return scale_images(images, input_shape), labels

    def validation_data(self, x, y) -> tuple:
        return (x, y)

    def compile(self, model, optimizer, **speed) -> None:
        """``model.compile`` with this task's loss and metrics; ``speed`` holds compile's
        ``steps_per_execution`` and ``jit_compile`` (``workbench.speed.compile_settings``)."""
        raise NotImplementedError

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        raise NotImplementedError

    def validate(self, model, x, y=None) -> dict[str, float]:
        """The per-epoch validation figures (where ``fit`` cannot compute them): ``evaluate``
        unless that is too costly to repeat every epoch."""
        return self.evaluate(model, x, y)

    def board_callbacks(self, board_dir, x, y, spec) -> list:
        from workbench import summaries

        return [summaries.op_graph(board_dir, x)]

    def describe(self, metrics: dict[str, float]) -> str:
        return f"test {self.headline.replace('_', ' ')} {metrics[self.headline]:.4f}"


class Classification(Task):
    """Image -> class: softmax outputs, integer labels, the lecture's sparse cross-entropy."""

    name, title = "classify", "image classification"
    headline, higher_is_better = "accuracy", True
    advice = ("Common causes: pixels not scaled to [0, 1] (divide by 255), too few epochs, or a learning "
              "rate far from 0.01.")

    def model_settings(self, spec) -> dict:
        return {"num_classes": spec.num_classes}  # CIFAR-100 (--dataset cifar100) needs 100 outputs

    def compile(self, model, optimizer, **speed) -> None:
        from workbench.training import compile_classifier

        compile_classifier(model, optimizer, **speed)

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        import keras

        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        total_loss, correct = 0.0, 0
        for part in _batches(len(x), batch_size):
            probabilities = np.asarray(model(x[part], training=False))
            labels = np.reshape(y[part], -1)
            total_loss += float(loss_fn(labels, probabilities)) * len(labels)
            correct += int(np.sum(probabilities.argmax(-1) == labels))
        return {"loss": total_loss / len(x), "accuracy": correct / len(x)}

    def board_callbacks(self, board_dir, x, y, spec) -> list:
        from workbench import data, summaries

        return [summaries.image_samples(board_dir, x, y, data.class_names(spec.name)),
                *super().board_callbacks(board_dir, x, y, spec)]


class Reconstruction(Task):
    """Image -> the same image: an autoencoder, per-pixel binary cross-entropy on [0, 1] pixels."""

    name, title = "reconstruct", "image reconstruction (autoencoder)"
    advice = ("Check the last layer has a sigmoid activation (outputs in [0, 1]), the loss is "
              "'binary_crossentropy', the pixels were divided by 255, and train longer.")

    def examples(self, images, labels, input_shape):
        return scale_images(images, input_shape), None  # the labels are not used: unsupervised

    def pair(self, x, seed):
        return x, x

    def validation_data(self, x, y):
        return (x, x)

    def compile(self, model, optimizer, **speed) -> None:
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["mse"], **speed)

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        targets = x if y is None else y
        total_bce = total_mse = 0.0
        outputs = []
        for part in _batches(len(x), batch_size):
            guess = np.clip(np.asarray(model(x[part], training=False), "float64"), 1e-7, 1 - 1e-7)
            truth = np.asarray(targets[part], "float64")
            total_bce += float(np.sum(-(truth * np.log(guess) + (1 - truth) * np.log(1 - guess)).mean(
                axis=tuple(range(1, truth.ndim)))))
            total_mse += float(np.sum(((truth - guess) ** 2).mean(axis=tuple(range(1, truth.ndim)))))
            outputs.append(guess)
        metrics = {"loss": total_bce / len(x), "mse": total_mse / len(x)}
        return self._more_metrics(metrics, x, targets, np.concatenate(outputs))

    def _more_metrics(self, metrics, inputs, targets, outputs) -> dict[str, float]:
        return metrics

    def board_callbacks(self, board_dir, x, y, spec) -> list:
        from workbench import summaries

        return [summaries.reconstruction_samples(board_dir, x, y if y is not None else x, spec.image_shape),
                *super().board_callbacks(board_dir, x, y, spec)]


class Denoising(Reconstruction):
    """Noisy image -> clean image: Gaussian noise added in the input pipeline, clipped to [0, 1]."""

    name, title = "denoise", "denoising autoencoder"
    headline, higher_is_better = "psnr", True
    options = (Option("noise_factor", float, 0.4, "standard deviation of the Gaussian noise added "
                                                   "to the [0, 1] pixels (keras-io's example: 0.4)"),)
    advice = ("The denoised images should be closer to the clean ones than the noisy inputs are: check "
              "the model is trained on (noisy, clean) pairs, not (noisy, noisy), and train longer.")

    def pair(self, x, seed):
        from workbench.data.pipeline import gaussian_noise

        return gaussian_noise(x, self.settings["noise_factor"], seed), x

    def validation_data(self, x, y):
        from workbench.data.pipeline import add_noise

        return (add_noise(x, self.settings["noise_factor"], seed=TEST_NOISE_SEED), x)

    def _more_metrics(self, metrics, inputs, targets, outputs):
        return {**metrics, "psnr_noisy": psnr(targets, inputs), "psnr": psnr(targets, outputs)}

    def describe(self, metrics):
        return (f"test PSNR {metrics['psnr']:.2f} dB denoised vs {metrics['psnr_noisy']:.2f} dB noisy input "
                f"(noise factor {self.settings['noise_factor']}), loss {metrics['loss']:.4f}")


class VariationalAutoencoder(Task):
    """A VAE: the model's own ``train_step`` adds the KL term; evaluation uses its ``loss_terms``."""

    name, title = "vae", "variational autoencoder"
    advice = ("Check the KL term is added to the reconstruction loss and the reparameterisation "
              "z = mean + exp(0.5 * log_var) * epsilon is used, then train longer.")

    def examples(self, images, labels, input_shape):
        return scale_images(images, input_shape), None

    def validation_data(self, x, y):
        return (x,)

    def compile(self, model, optimizer, **speed) -> None:
        # The loss lives in the model's train_step.
        model.compile(optimizer=optimizer, **speed)

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        reconstruction = kl = 0.0
        for part in _batches(len(x), batch_size):
            terms = model.loss_terms(x[part])
            reconstruction += float(terms["reconstruction_loss"]) * (part.stop - part.start)
            kl += float(terms["kl_loss"]) * (part.stop - part.start)
        reconstruction, kl = reconstruction / len(x), kl / len(x)
        return {"loss": reconstruction + kl, "reconstruction_loss": reconstruction, "kl_loss": kl}

    def board_callbacks(self, board_dir, x, y, spec) -> list:
        from workbench import summaries

        return [summaries.reconstruction_samples(board_dir, x, x, spec.image_shape),
                *super().board_callbacks(board_dir, x, y, spec)]

    def describe(self, metrics):
        return (f"test loss {metrics['loss']:.2f} (reconstruction {metrics['reconstruction_loss']:.2f} "
                f"+ KL {metrics['kl_loss']:.2f})")


class MonteCarloDropout(Classification):
    """Image -> class, judged with dropout kept on at inference: T stochastic passes (lecture 000).

    The mean of the passes is the prediction; the spread of the winning class's probability over
    the passes is the uncertainty. Confident predictions should be the accurate ones, so the run
    reports the accuracy of the most confident and of the most uncertain tenth of the test set.
    """

    name, title = "classify_mc_dropout", "image classification with MC-dropout uncertainty"
    options = (Option("mc_passes", int, 30, "stochastic forward passes with dropout on at inference (T)"),)

    def validate(self, model, x, y=None) -> dict[str, float]:
        return super().evaluate(model, x, y)  # the T stochastic passes only once, at the end

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        from workbench import uncertainty

        metrics = super().evaluate(model, x, y, batch_size)
        mean, spread = uncertainty.mc_dropout(model, x, passes=self.settings["mc_passes"],
                                              batch_size=batch_size)
        confident, uncertain = uncertainty.decile_accuracies(mean, spread, y)
        return {**metrics, "mc_accuracy": float(np.mean(mean.argmax(-1) == np.reshape(y, -1))),
                "confident_decile_accuracy": confident, "uncertain_decile_accuracy": uncertain}

    def describe(self, metrics):
        return (f"{super().describe(metrics)}; MC dropout ({self.settings['mc_passes']} passes): accuracy "
                f"{metrics['mc_accuracy']:.4f}, most confident tenth "
                f"{metrics['confident_decile_accuracy']:.4f}, "
                f"most uncertain tenth {metrics['uncertain_decile_accuracy']:.4f}")


def class_ids(labels) -> np.ndarray:
    """One-hot (or mixed) rows -> the class with the largest weight; integer labels as they are."""
    labels = np.asarray(labels)
    return labels.argmax(axis=-1) if labels.ndim == 2 and labels.shape[1] > 1 else labels.reshape(-1)


class MixupClassification(Classification):
    """Image -> class with one-hot labels, and mixup (lecture 002) when ``mixup_alpha`` > 0.

    Mixup trains on convex combinations of two samples and of their one-hot labels with the same
    lambda (Zhang et al. 2018): x~ = lambda x_i + (1 - lambda) x_j, y~ = lambda y_i + (1 - lambda) y_j,
    lambda ~ Beta(alpha, alpha). The labels are one-hot in training for that reason (soft targets
    need ``categorical_crossentropy``); validation and test stay integer labels.
    """

    name, title = "classify_mixup", "image classification (mixup when --mixup-alpha > 0)"
    options = (Option("mixup_alpha", float, 0.0, "mixup's Beta(alpha, alpha) for lambda; 0 turns mixup "
                                                  "off (Zhang et al. found 0.1-0.4 best on ImageNet)"),)
    advice = ("Colour images are harder than digits: compare with the baseline CNN first, and give "
              "augmentation or mixup more epochs before judging them (they make training harder).")

    def prepare(self, spec, x_train) -> None:
        self.num_classes = spec.num_classes
        if self.settings["mixup_alpha"] < 0:
            from workbench.errors import OptionError

            raise OptionError(f"--mixup-alpha {self.settings['mixup_alpha']}: must be 0 (off) or positive")

    def pair(self, sample, seed):
        import tensorflow as tf

        x, y = sample
        return x, tf.one_hot(tf.reshape(y, []), self.num_classes)

    def mix(self, batch, seed):
        from workbench.data.pipeline import mixup

        if self.settings["mixup_alpha"] == 0:
            return batch
        return mixup(*batch, alpha=self.settings["mixup_alpha"], seed=seed)

    def validation_data(self, x, y):
        return (x, np.eye(self.num_classes, dtype="float32")[np.reshape(y, -1)])  # as fit's targets

    def compile(self, model, optimizer, **speed) -> None:
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"], **speed)

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        return super().evaluate(model, x, class_ids(y), batch_size)

    def board_callbacks(self, board_dir, x, y, spec) -> list:
        return super().board_callbacks(board_dir, x, class_ids(y), spec)


class TextClassification(Task):
    """Raw review text -> positive or negative: a vectorizer learnt on the training text feeds a
    model that ends in one logit (lecture 003's BiLSTM), trained from logits."""

    name, title = "classify_text", "text classification (sentiment)"
    headline, higher_is_better = "accuracy", True
    options = (Option("vocab_size", int, 20000, "the vectorizer's vocabulary: most frequent words kept "
                                                 "(keras-io: 20000)"),
               Option("sequence_length", int, 200, "token ids per review: longer ones are cut, shorter "
                                                    "ones padded with 0 (keras-io: 200)"))
    advice = ("Check the loss is computed from logits (the last layer has no activation), accuracy is "
              "measured at logit 0 (probability 0.5), and the Embedding masks the padding (mask_zero=True).")

    def prepare(self, spec, x_train) -> None:
        from workbench import text

        self.vectorizer = text.adapt(text.vectorizer(self.settings["vocab_size"],
                                                     self.settings["sequence_length"]), x_train)

    def model_settings(self, spec) -> dict:
        return {"vocab_size": self.settings["vocab_size"]}

    def examples(self, texts, labels, input_shape):
        from workbench import text

        return text.as_strings(texts), np.asarray(labels, "float32")

    def pair(self, sample, seed):
        review, label = sample
        return self.vectorizer(review), label

    def validation_data(self, x, y):
        from workbench import text

        return (text.vectorize(self.vectorizer, x), y)

    def compile(self, model, optimizer, **speed) -> None:
        import keras

        # "accuracy" would threshold the logits at 0.5; a logit's decision point is 0.
        model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")], **speed)

    def evaluate(self, model, x, y=None, batch_size: int = 256) -> dict[str, float]:
        import tensorflow as tf

        # Traced once: an eager call of a masked BiLSTM takes seconds per batch, a traced one tens
        # of milliseconds (a plain call still, which runs under every strategy).
        predict = tf.function(lambda ids: model(ids, training=False), reduce_retracing=True)
        total_loss, correct = 0.0, 0
        for part in _batches(len(x), batch_size):
            logits = np.asarray(predict(x[part]), "float64").reshape(-1)
            labels = np.asarray(y[part], "float64").reshape(-1)
            # Binary cross-entropy from logits, written stably: max(l, 0) - l t + log(1 + e^-|l|).
            losses = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
            total_loss += float(np.sum(losses))
            correct += int(np.sum((logits > 0) == (labels > 0.5)))
        return {"loss": total_loss / len(x), "accuracy": correct / len(x)}

    def board_callbacks(self, board_dir, x, y, spec) -> list:
        return []  # no images; the op graph of a masked LSTM is large and says little


TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (Classification, MonteCarloDropout, MixupClassification, TextClassification, Reconstruction,
                 Denoising, VariationalAutoencoder)
}


def get(name: str) -> type[Task]:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
