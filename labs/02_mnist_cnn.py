#!/usr/bin/env python
"""Lab 02 — MNIST with a convolutional network (batch version of notebooks/02_mnist_cnn.ipynb).

The model code is the notebook's, built from `workbench.models`; settings come from
`workbench.recipes`. Examples::

    python labs/02_mnist_cnn.py                 # the lecture's settings
    python labs/02_mnist_cnn.py --epochs 2 --seed 1
    python labs/02_mnist_cnn.py --model mnist_cnn_deeper

Run `python labs/02_mnist_cnn.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("02_mnist_cnn")
