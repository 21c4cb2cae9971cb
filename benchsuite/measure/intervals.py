"""Intervals of interleaved rounds' speedups: the distribution-free interval of their median, and the interval in
which a repeat run would measure it. Imports no torch: rows are built with them (results/rows.py)."""

from __future__ import annotations

import math
import statistics
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


def repeat_run_interval(values: Sequence[float], between_runs_sd: float,
                        confidence: float = 0.95) -> tuple[float, float] | None:
    """The interval in which a repeat run on the same machine would measure the median of its rounds' ratios
    (`values`: this run's rounds), at about `confidence`.

    A run's median ratio differs from the machine's long-run value by the rounds' own error (its spread is what
    `median_interval` measures) and by a run effect the rounds cannot see: what changes between processes and
    over minutes on a shared machine (memory placement, neighbours' load), with relative standard deviation
    `between_runs_sd`. Another run's value differs from this one by both errors twice, so on a log scale each
    side of the interval is sqrt(2) * sqrt(side_of_rounds^2 + (z * between_runs_sd)^2), with `side_of_rounds`
    that side of the median's order-statistic interval. With `between_runs_sd` 0 it is still sqrt(2) times wider
    than the median's interval: it bounds a second run's value, not the median itself. None where the rounds
    are too few for `median_interval`."""
    within = median_interval(values, confidence)
    if within is None:
        return None
    centre = statistics.median(float(v) for v in values)
    if not (within[0] > 0 and centre > 0):
        return None
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    run = z * between_runs_sd
    low = math.sqrt(2) * math.hypot(math.log(centre / within[0]), run)
    high = math.sqrt(2) * math.hypot(math.log(within[1] / centre), run)
    return centre * math.exp(-low), centre * math.exp(high)
