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


def split_passes(values: Sequence[float], passes: Sequence[int] | None) -> list[list[float]]:
    """`values` (rounds in the order timed) split into the worker processes that timed them: `passes` gives each
    process's number of rounds (None or one process: all in one)."""
    values = [float(v) for v in values]
    if not passes or len(passes) < 2:
        return [values]
    if sum(int(n) for n in passes) != len(values):
        raise ValueError(f"{len(values)} rounds do not split into processes of {list(passes)} rounds")
    out, at = [], 0
    for n in passes:
        out.append(values[at:at + int(n)])
        at += int(n)
    return out


def pooled_speedup(values: Sequence[float], passes: Sequence[int] | None = None) -> float:
    """The speedup of interleaved rounds: the median of their ratios; timed in several processes, the geometric
    mean of each process's median (each process carries an offset of its own, which the mean averages)."""
    groups = split_passes(values, passes)
    return math.exp(statistics.fmean(math.log(statistics.median(g)) for g in groups))


def rounds_interval(values: Sequence[float], passes: Sequence[int] | None = None,
                    confidence: float = 0.95) -> tuple[float, float] | None:
    """The 95% interval of `pooled_speedup` from the rounds alone (one run): for one process the median's
    order-statistic interval (`median_interval`); for k processes, on a log scale, each side is
    sqrt(sum of the processes' sides squared) / k, the error of the mean of their log medians. None where a
    process's rounds are too few for `median_interval`."""
    groups = split_passes(values, passes)
    lows, highs = [], []
    for group in groups:
        within = median_interval(group, confidence)
        centre = statistics.median(group)
        if within is None or not (within[0] > 0 and centre > 0):
            return None
        lows.append(math.log(centre / within[0]))
        highs.append(math.log(within[1] / centre))
    centre = pooled_speedup(values, passes)
    return centre * math.exp(-math.hypot(*lows) / len(groups)), centre * math.exp(math.hypot(*highs) / len(groups))


def repeat_run_interval(values: Sequence[float], between_runs_sd: float, confidence: float = 0.95,
                        passes: Sequence[int] | None = None) -> tuple[float, float] | None:
    """The interval in which a repeat run on the same machine would measure `pooled_speedup` of its rounds
    (`values`: this run's rounds; `passes`: the rounds of each worker process, None for one), at about
    `confidence`.

    A run's speedup differs from the machine's long-run value by the rounds' own error (`rounds_interval`) and by
    a run effect the rounds cannot see: what changes between processes and over minutes on a shared machine
    (memory placement, neighbours' load), with relative standard deviation `between_runs_sd` (of a stored
    speedup, however many processes it pools). Another run's value differs from this one by both errors twice,
    so on a log scale each side of the interval is sqrt(2) * sqrt(side_of_rounds^2 + (z * between_runs_sd)^2).
    With `between_runs_sd` 0 it is still sqrt(2) times wider than the rounds' interval: it bounds a second run's
    value, not the median itself. None where the rounds are too few for `rounds_interval`."""
    within = rounds_interval(values, passes, confidence)
    if within is None:
        return None
    centre = pooled_speedup(values, passes)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    run = z * between_runs_sd
    low = math.sqrt(2) * math.hypot(math.log(centre / within[0]), run)
    high = math.sqrt(2) * math.hypot(math.log(within[1] / centre), run)
    return centre * math.exp(-low), centre * math.exp(high)
