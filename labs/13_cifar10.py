#!/usr/bin/env python
"""Lab 13 — CIFAR-10 (batch version of notebooks/13_cifar10.ipynb).

The TensorFlow tutorial's CNN as the baseline, then a small ResNet; augmentation layers
(--augment), squeeze-and-excitation blocks (--se) and mixup (--mixup-alpha) as switches. CIFAR-100
is the closing exercise (--dataset cifar100, once it is staged). Examples::

    python labs/13_cifar10.py
    python labs/13_cifar10.py --model cifar_resnet --augment --mixup-alpha 0.2
    python labs/13_cifar10.py --model cifar_resnet --se --epochs 30
    python labs/13_cifar10.py --strategy horovod      # under horovodrun or slurm/horovod.sbatch

Run `python labs/13_cifar10.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("13_cifar10")
