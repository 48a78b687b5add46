"""Speed knobs on lab 02's CNN, before they become lab options (issue 14): one process per setting.

    WORKBENCH_DATA=../shared/data python bench/knobs.py     # about 3 minutes on 2 cores

Each setting trains the lecture's CNN (``models.build("mnist_cnn")``, SGD 0.01 momentum 0.9, batch
32) for 3 epochs on all of MNIST through the labs' own input pipeline (``epoch_batches``), with
the labs' per-step stop callback unless said otherwise, and prints the mean of the warm epochs
(2 and 3) and the test accuracy after 3. Settings: ``steps_per_execution`` (Keras runs that many
steps per call into the graph) and the ``mixed_bfloat16`` policy (everything in it, the softmax
included: the lab option will keep the last layer in float32).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # name -> (steps_per_execution, mixed_bfloat16, per-step stop callback)
    "as the labs run today": (1, False, True),
    "without the stop callback": (1, False, False),
    "steps_per_execution 50": (50, False, True),
    "steps_per_execution 50, mixed_bfloat16": (50, True, True),
}


def train(steps_per_execution: int, bf16: bool, stop_callback: bool) -> tuple[list[float], float]:
    import keras

    from workbench import data, models, preemption, training
    from workbench.data import epoch_batches

    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    (x_train, y_train), (x_test, y_test) = data.load("mnist", quick=False)
    keras.utils.set_random_seed(0)
    model = models.build("mnist_cnn")
    model.compile(optimizer=training.lecture_optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    x_train = (x_train.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    x_test = (x_test.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    seconds: list[float] = []

    class EpochSeconds(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    callbacks = [EpochSeconds(), *([preemption.stop_on_signal()] if stop_callback else [])]
    history = model.fit(epoch_batches(x_train, y_train, batch_size=32, seed=0, epochs=range(3)), epochs=3,
                        steps_per_epoch=len(x_train) // 32, validation_data=(x_test, y_test),
                        callbacks=callbacks, verbose=0, shuffle=False)
    return seconds, history.history["val_accuracy"][-1]


def main() -> None:
    if len(sys.argv) == 2:  # one setting, in its own process (the policy is process-wide)
        seconds, accuracy = train(*SETTINGS[sys.argv[1]])
        print(f"RESULT {statistics.mean(seconds[1:]):.2f} {accuracy:.4f}")
        return
    print("| setting | warm epoch (s) | test accuracy after 3 epochs |\n|---|---|---|")
    for name in SETTINGS:
        done = subprocess.run([sys.executable, __file__, name], cwd=ROOT, capture_output=True, text=True,
                              check=True)
        epoch, accuracy = done.stdout.split("RESULT ")[-1].split()
        print(f"| {name} | {epoch} | {accuracy} |", flush=True)


if __name__ == "__main__":
    main()
