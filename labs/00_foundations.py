#!/usr/bin/env python
"""Lab 00 — Foundations (batch version of notebooks/00_foundations.ipynb).

Lecture 001's logistic regression with ten classes: softmax regression on MNIST pixels, plain SGD,
no hidden layer. The notebook adds the perceptron, XOR, softmax + cross-entropy, SGD with
momentum in NumPy and convolution arithmetic; this script is the one part that trains on a
dataset. Examples::

    python labs/00_foundations.py
    python labs/00_foundations.py --quick
    python labs/00_foundations.py --strategy mirrored --cpu-replicas 2

Run `python labs/00_foundations.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("00_foundations")
