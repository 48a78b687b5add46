#!/usr/bin/env python
"""Lab 06 — TensorBoard (batch version of notebooks/06_tensorboard.ipynb).

One run of the HParams tutorial's Fashion-MNIST model, logging scalars, the graph, weight
histograms, sample images and, on request, a profile of chosen steps. Examples::

    python labs/06_tensorboard.py --num-units 32 --dropout 0.1 --optimizer adam
    python labs/06_tensorboard.py --profile-steps 5,10
    python labs/06_tensorboard.py --sweep sweeps/06_hparams.toml --point 3   # one grid point
    workbench sweep run sweeps/06_hparams.toml                              # all eight

Run `python labs/06_tensorboard.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("06_tensorboard")
