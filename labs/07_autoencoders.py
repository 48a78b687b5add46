#!/usr/bin/env python
"""Lab 07 — Autoencoders on MNIST (batch version of notebooks/07_autoencoders.ipynb).

Lecture 004's dense, sparse, deep and convolutional autoencoders, trained as keras-io's
convolutional autoencoder is (Adam, binary cross-entropy, batch 128, 50 epochs). Examples::

    python labs/07_autoencoders.py                      # the convolutional one, 50 epochs
    python labs/07_autoencoders.py --model ae_dense --epochs 10
    python labs/07_autoencoders.py --strategy mirrored --cpu-replicas 2 --quick

Run `python labs/07_autoencoders.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("07_autoencoders")
