#!/usr/bin/env python
"""Lab 04 — batch normalization on MNIST (batch version of notebooks/04_mnist_batchnorm.ipynb).

The model code is the notebook's, built from `workbench.models`; settings come from
`workbench.recipes`. Examples::

    python labs/04_mnist_batchnorm.py                 # the lecture's settings
    python labs/04_mnist_batchnorm.py --epochs 2 --seed 1
    python labs/04_mnist_batchnorm.py --model mnist_cnn_bn_before_activation

Run `python labs/04_mnist_batchnorm.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("04_mnist_batchnorm")
