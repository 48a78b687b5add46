#!/usr/bin/env python
"""Lab 08 — Denoising autoencoder (batch version of notebooks/08_denoising.ipynb).

Lecture 004's denoising table; Gaussian noise is added to every training image in the input
pipeline (fresh each epoch) and clipped to [0, 1]; the model learns noisy -> clean. Examples::

    python labs/08_denoising.py                         # noise factor 0.4, 100 epochs
    python labs/08_denoising.py --noise-factor 0.6 --epochs 10

Run `python labs/08_denoising.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("08_denoising")
