"""Lecture 003's first CNN listing ("Let's Start Small"), as written, for timing against the workbench.

Three changes, none to what is timed: the data come from the staged ``mnist.npz`` (compute nodes
cannot download; ``mnist.load_data()`` reads the same arrays), ``lr=`` is ``learning_rate=``
(Keras 3 removed ``lr``), and a callback writes each epoch's time and test accuracy as a JSON
line to ``--report`` for ``bench/run.py`` (a file: Keras' progress bar shares stdout). NumPy
arrays go into ``fit`` (float64 after ``/255``, as written), batch 32, SGD 0.01 with momentum 0.9.

    python bench/listing_003.py [--epochs 10] [--train-samples N] [--report epochs.jsonl]
"""

import argparse
import json
import os
import time

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--train-samples", type=int, default=60000)
parser.add_argument("--report", default=os.devnull)
args = parser.parse_args()

with np.load(os.path.join(os.environ["WORKBENCH_DATA"], "mnist.npz"), allow_pickle=False) as staged:
    (train_images, train_labels), (test_images, test_labels) = (
        (staged["x_train"], staged["y_train"]), (staged["x_test"], staged["y_test"]))
train_images, train_labels = train_images[:args.train_samples], train_labels[:args.train_samples]

# --- the listing, as written --------------------------------------------------------------------
train_images = train_images.reshape(len(train_images), 28, 28, 1)
test_images = test_images.reshape(10000, 28, 28, 1)
train_images, test_images = train_images/255, test_images/255
model = tf.keras.Sequential([
    tf.keras.layers.Conv2D(32, (3,3), activation='relu', input_shape=(28,28,1)),
    tf.keras.layers.MaxPooling2D(2,2),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(100, activation='relu'),
    tf.keras.layers.Dense(10, activation='relu'),
    tf.keras.layers.Dense(10, activation='softmax')
])
model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
              loss='sparse_categorical_crossentropy', metrics=['accuracy'])
# ------------------------------------------------------------------------------------------------


class EpochLine(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        with open(args.report, "a") as report:
            report.write(json.dumps({"epoch": epoch + 1,
                                     "epoch_seconds": round(time.perf_counter() - self.began, 3),
                                     "since_start": round(time.perf_counter() - STARTED, 3),
                                     "val_accuracy": float(logs["val_accuracy"])}) + "\n")


model.fit(train_images, train_labels, batch_size=32, epochs=args.epochs, verbose=1,
          validation_data=(test_images, test_labels), callbacks=[EpochLine()])
