#!/usr/bin/env python
"""Lab 12 — Fashion-MNIST with lab 02's CNN (batch version of notebooks/12_fashion_mnist.ipynb).

Lecture 003's first exercise: the same CNN, the same settings, clothes instead of digits; the
reference printed beside our figure is that CNN's result on MNIST. Examples::

    python labs/12_fashion_mnist.py
    python labs/12_fashion_mnist.py --model mnist_cnn_dropout
    python labs/12_fashion_mnist.py --strategy multiworker   # under slurm/multiworker.sbatch

Run `python labs/12_fashion_mnist.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("12_fashion_mnist")
