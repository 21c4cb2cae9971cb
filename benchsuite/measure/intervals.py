"""The distribution-free interval of a median (interleaved rounds' speedups). Imports no torch: rows are built
with it (results/rows.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free interval of the median of `values`: the order statistics x(k) and x(n+1-k) for the
    largest k whose coverage, 1 - 2 P(Binomial(n, 1/2) < k), is at least `confidence`. None when no k reaches it
    (fewer than 6 values at 95%)."""
    n = len(values)
    if n == 0:
        return None
    ordered = sorted(values)
    tail, k = 0.0, 0  # tail: P(Binomial(n, 1/2) <= k - 1)
    best = None
    while k < n // 2 + 1:
        coverage = 1 - 2 * tail
        if coverage >= confidence and k >= 1:
            best = k
        elif coverage < confidence:
            break
        tail += math.comb(n, k) / 2 ** n
        k += 1
    if best is None:
        return None
    return float(ordered[best - 1]), float(ordered[n - best])
