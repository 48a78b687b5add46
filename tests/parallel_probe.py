"""Run by tests/test_data_parallel.py: as one process, as two multi-worker workers, or as two
Horovod ranks, the lab's own strategy code reports what this rank reads and where one step takes it.

    python tests/parallel_probe.py STRATEGY OUT_DIR [CPU_REPLICAS]

1. Sharding: the ids of the samples this rank reads in one epoch of 1,000 (``training_batches``,
   the method ``fit`` trains from), then one real epoch on 1,000 MNIST images, whose log line
   says how many steps the rank took; and the same for 1,000 raw IMDB reviews through the text
   task's pipeline (the vocabulary each rank learnt, and whether each review's tokens are its own).
2. One step: from the same initial weights, one optimizer step on 64 real MNIST images (2 ranks x
   32, or 64 in one process), for SGD and Adam; the sparse autoencoder (an ``add_loss`` term);
   the VAE (its loss in its own train_step); and the controls that must fail: Horovod summing
   instead of averaging, and the VAE's train_step without its division by the number of
   replicas. Weights go to OUT_DIR/<case>-rank<r>.npz.
"""

import hashlib
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from workbench import data, models, strategies, tasks, text, training, vae

strategy_name, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
strategy = strategies.get(strategy_name, cpu_replicas=int(sys.argv[3]) if len(sys.argv) > 3 else 0)
rank, replicas = strategy.rank, strategy.replicas
classify, generate, reconstruct = tasks.get("classify")(), tasks.get("vae")(), tasks.get("reconstruct")()
(images, labels), _ = data.load("mnist", quick=True)


def local_values(values) -> np.ndarray:
    """What this worker holds of a (per-replica, under multi-worker) batch, as one array."""
    if strategy.tf_strategy is not None and strategy.name == "multiworker":
        values = tf.concat(strategy.tf_strategy.experimental_local_results(values), 0)
    return np.asarray(values)


def local_ids(batch) -> list[int]:
    return [int(i) for i in local_values(batch[0])]


ids = np.arange(1000)
read = [local_ids(batch) for batch in strategy.training_batches(ids, ids, classify, batch_size=32, seed=0,
                                                                epochs=range(1))]
(out / f"shard-rank{rank}.json").write_text(json.dumps(read))

# The same for raw text (lab 11): the label slot carries each review's index through the text
# task's pipeline, which vectorizes on the way; the tokens must be that review's.
reader = tasks.get("classify_text")(vocab_size=2000, sequence_length=40)
(reviews, _), _ = data.load("imdb", quick=True)
reviews = reviews[:1000]
reader.prepare(data.get("imdb"), reviews)
expected_tokens = text.vectorize(reader.vectorizer, reviews)
text_read, tokens_match = [], True
for tokens, index in strategy.training_batches(reader.examples(reviews, ids, None)[0], ids, reader,
                                               batch_size=32, seed=0, epochs=range(1)):
    index, tokens = local_values(index), local_values(tokens)
    text_read.append([int(i) for i in index])
    tokens_match &= bool(np.array_equal(tokens, expected_tokens[index]))
vocabulary = reader.vectorizer.get_vocabulary()
(out / f"text-rank{rank}.json").write_text(json.dumps({
    "read": text_read, "tokens_match": tokens_match, "vocabulary_size": len(vocabulary),
    "vocabulary_digest": hashlib.sha256("\n".join(vocabulary).encode()).hexdigest()}))
with strategy.scope():
    model = models.build("mnist_dense")
    classify.compile(model, strategy.prepare_optimizer(keras.optimizers.SGD(0.01)))
strategy.fit(model, classify, classify.examples(images[:1000], labels[:1000], (28, 28)), None, epochs=1,
             batch_size=32, verbose=2)

# One step. No sampling noise in the VAE: each replica would draw its own epsilon, one process one
# for all 64 images; what is compared is then the averaging alone.
vae.Sampling.call = lambda self, inputs: inputs[0]


class UnscaledVAE(vae.VAE):  # lab 09's train_step without the division by the number of replicas
    def train_step(self, batch):
        with tf.GradientTape() as tape:
            terms = self.loss_terms(batch, training=True)
            total = terms["reconstruction_loss"] + terms["kl_loss"]
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._track(total, terms)


def build(case):
    training.seed_everything(0)
    if case.startswith("vae"):
        made = (UnscaledVAE if case == "vae_unscaled" else vae.VAE)(vae.encoder(), vae.decoder())
        made.build((None, 28, 28, 1))
        return made, generate
    if case.startswith("sparse"):
        return models.build("ae_sparse"), reconstruct
    return models.build("mnist_dense"), classify


def optimizer_for(case):
    rate = 1e-4 if case.startswith("vae") else 0.5  # the VAE's summed pixel losses are large
    chosen = keras.optimizers.Adam(0.01) if case.endswith("adam") else keras.optimizers.SGD(rate)
    if case == "dense_sum" and strategy.name == "horovod":
        hvd = strategies.import_horovod()
        return strategies.averaging_optimizer(chosen, hvd, op=hvd.Sum)
    return strategy.prepare_optimizer(chosen)


SHAPES = {"vae": (28, 28, 1), "sparse": (784,), "dense": (28, 28)}
for case in ("dense_sgd", "dense_adam", "sparse_sgd", "vae", "vae_unscaled", "dense_sum"):
    with strategy.scope():
        model, task = build(case)
        task.compile(model, optimizer_for(case))
    train = task.examples(images[:64], labels[:64], SHAPES[case.split("_")[0]])
    strategy.fit(model, task, train, None, epochs=1, batch_size=64 // replicas, verbose=0)
    np.savez(out / f"{case}-rank{rank}.npz", *[np.asarray(w) for w in model.get_weights()])
print(f"probe rank {rank} of {strategy.size}: done", flush=True)
