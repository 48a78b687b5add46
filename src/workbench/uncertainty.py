"""Uncertainty from dropout kept on at inference (Gal & Ghahramani 2016; lecture 000).

A network trained with dropout is, at inference, one sample of many thinned networks. Running
the input through it T times with dropout *on* (``model(x, training=True)``) gives T different
predictions: their mean is the prediction, their spread says how unsure the network is. The
lecture's test of a good uncertainty ("order coherence and calibration"): the predictions made
with high confidence should be the accurate ones.
"""

from __future__ import annotations

import numpy as np


def mc_dropout(model, x, passes: int = 30, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``passes`` stochastic forward passes: (mean class probabilities [n, k], spread [n]).

    The spread is the standard deviation over the passes of the probability of the class the
    mean picks. (Batch-norm layers would also switch to batch statistics with ``training=True``;
    the dropout CNN has none.)
    """
    means, spreads = [], []
    for start in range(0, len(x), batch_size):
        part = x[start:start + batch_size]
        samples = np.stack([np.asarray(model(part, training=True)) for _ in range(passes)])  # [T, b, k]
        mean = samples.mean(axis=0)
        chosen = mean.argmax(-1)
        means.append(mean)
        spreads.append(samples[:, np.arange(len(part)), chosen].std(axis=0))
    return np.concatenate(means), np.concatenate(spreads)


def accuracy_by_confidence(mean: np.ndarray, spread: np.ndarray, labels, bins: int = 10) -> list[dict]:
    """Test samples sorted from most confident (smallest spread) to least, cut into ``bins``
    equal groups; each group's spread range and accuracy."""
    labels = np.reshape(labels, -1)
    order = np.argsort(spread, kind="stable")
    correct = mean.argmax(-1) == labels
    rows = []
    for number, group in enumerate(np.array_split(order, min(bins, len(order))), 1):  # no empty bins
        rows.append({"bin": number, "count": len(group), "spread_min": float(spread[group].min()),
                     "spread_max": float(spread[group].max()), "accuracy": float(correct[group].mean())})
    return rows


def decile_accuracies(mean: np.ndarray, spread: np.ndarray, labels) -> tuple[float, float]:
    """Accuracy of the most confident tenth and of the most uncertain tenth."""
    rows = accuracy_by_confidence(mean, spread, labels, bins=10)
    return rows[0]["accuracy"], rows[-1]["accuracy"]


def most_uncertain(spread: np.ndarray, count: int = 16) -> np.ndarray:
    """Indices of the ``count`` test samples the network is least sure about, most uncertain first."""
    return np.argsort(-spread, kind="stable")[:count]
