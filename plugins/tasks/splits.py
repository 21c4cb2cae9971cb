"""Deterministic data splits and batching shared by the built-in tasks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): `test_fraction` of every class goes to test; fixed by `seed`."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        cut = int(round(len(idx) * test_fraction))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def endless_shuffled(n: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Index batches over `n` samples, reshuffled every epoch, forever; the order is fixed by `seed`."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]
