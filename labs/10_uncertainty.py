#!/usr/bin/env python
"""Lab 10 — Uncertainty with dropout at inference (batch version of notebooks/10_uncertainty.ipynb).

Lab 03's dropout CNN, then T forward passes with dropout kept on: the accuracy of the most
confident and the most uncertain tenth of the test set is reported. Examples::

    python labs/10_uncertainty.py
    python labs/10_uncertainty.py --dataset fashion_mnist --mc-passes 50

Run `python labs/10_uncertainty.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("10_uncertainty")
