#!/usr/bin/env python
"""Lab 03 — a CNN with dropout on MNIST (batch version of notebooks/03_mnist_dropout.ipynb).

The model code is the notebook's, built from `workbench.models`; settings come from
`workbench.recipes`. Examples::

    python labs/03_mnist_dropout.py                 # the lecture's settings
    python labs/03_mnist_dropout.py --epochs 2 --seed 1

Run `python labs/03_mnist_dropout.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("03_mnist_dropout")
