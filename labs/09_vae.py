#!/usr/bin/env python
"""Lab 09 — Variational autoencoder (batch version of notebooks/09_vae.ipynb).

keras-io's VAE (latent dimension 2, batch 128, 30 epochs, Adam): the reconstruction + KL loss
lives in the model's own ``train_step`` (``workbench.vae``), under every strategy. Examples::

    python labs/09_vae.py
    python labs/09_vae.py --latent-dim 8 --epochs 10
    python labs/09_vae.py --strategy horovod            # under horovodrun or slurm/horovod.sbatch

Run `python labs/09_vae.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("09_vae")
