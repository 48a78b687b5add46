#!/usr/bin/env python
"""Lab 01 — MNIST with a 64-wide dense network (batch version of notebooks/01_mnist_dense.ipynb).

The model code is the notebook's, built from `workbench.models`; settings come from
`workbench.recipes`. Examples::

    python labs/01_mnist_dense.py                 # the lecture's settings
    python labs/01_mnist_dense.py --epochs 2 --seed 1

Run `python labs/01_mnist_dense.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("01_mnist_dense")
