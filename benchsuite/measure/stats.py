"""Confidence intervals: bootstrap for latency medians, speedup ratios and non-proportion scores (macro-F1),
a cluster bootstrap for scores over correlated samples, Wilson for accuracies, t for seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

#: bootstrap resamples per interval; 2,000 keeps the Monte-Carlo error of a 95% bound well under 1% of its width
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
_Z = 1.959963984540054  # the standard normal's 97.5% quantile


def _resampled_medians(samples: Sequence[float], rng: np.random.Generator, resamples: int) -> np.ndarray:
    values = np.asarray(samples, dtype=np.float64)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return np.median(values[picks], axis=1)


def _percentile_interval(estimates: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_median_ci(samples: Sequence[float], seed: int = 0,
                        resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """Percentile-bootstrap 95% interval of the median of `samples` (None for fewer than 2 samples)."""
    if len(samples) < 2:
        return None
    return _percentile_interval(_resampled_medians(samples, np.random.default_rng(seed), resamples))


def bootstrap_ratio_ci(numerator: Sequence[float], denominator: Sequence[float], seed: int = 0,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """95% interval of median(numerator) / median(denominator), each sample resampled independently.

    With baseline latencies as `numerator` and a method's as `denominator` this is the speedup's interval.
    """
    if len(numerator) < 2 or len(denominator) < 2:
        return None
    rng = np.random.default_rng(seed)
    ratios = _resampled_medians(numerator, rng, resamples) / _resampled_medians(denominator, rng, resamples)
    return _percentile_interval(ratios)


def bootstrap_score_ci(score: Callable[[np.ndarray], float], n: int, seed: int = 0,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """Percentile-bootstrap 95% interval of a score computed over `n` evaluation samples, for scores that are
    not a proportion of samples (macro-F1): `score(indices)` recomputes it on the samples at `indices`, drawn
    with replacement. None for fewer than 2 samples."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    estimates = np.fromiter((score(rng.integers(0, n, size=n)) for _ in range(resamples)), np.float64, resamples)
    return _percentile_interval(estimates)


def cluster_bootstrap_ci(score: Callable[[np.ndarray], float], clusters: Sequence[object] | np.ndarray,
                         seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """Percentile-bootstrap 95% interval of a score over evaluation samples that come in correlated clusters
    (the crops of one photo): each resample draws as many clusters as there are, with replacement, and keeps all
    the samples of a drawn cluster together; `score(indices)` recomputes the score on the samples at `indices`.

    `clusters[i]` is sample i's cluster id. The interval is about the sampling of clusters, so it is only as
    good as their number is large: with few clusters it is too narrow rather than too wide. With one sample per
    cluster (ids 0..n-1 in sample order) it is `bootstrap_score_ci`, resample for resample. None for fewer than
    2 clusters.
    """
    _, cluster_of = np.unique(np.asarray(clusters), return_inverse=True)
    cluster_of = cluster_of.reshape(-1)
    members = np.split(np.argsort(cluster_of, kind="stable"), np.cumsum(np.bincount(cluster_of))[:-1])
    count = len(members)
    if count < 2:
        return None
    rng = np.random.default_rng(seed)
    estimates = np.fromiter(
        (score(np.concatenate([members[k] for k in rng.integers(0, count, size=count)])) for _ in range(resamples)),
        np.float64, resamples)
    return _percentile_interval(estimates)


def wilson_interval(proportion: float, n: int) -> tuple[float, float] | None:
    """Wilson score 95% interval of a proportion observed on `n` samples (e.g. top-1 accuracy)."""
    if n <= 0 or not 0.0 <= proportion <= 1.0:
        return None
    z2 = _Z * _Z
    centre = (proportion + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(proportion * (1 - proportion) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """Student-t 95% interval of the mean of `values` (e.g. one score per seed); None for fewer than 2."""
    clean = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if len(clean) < 2:
        return None
    from scipy import (
        stats,  # scipy comes with torch-pruning's and scikit-learn's dependencies
    )

    mean, sem = float(clean.mean()), float(clean.std(ddof=1) / math.sqrt(len(clean)))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, len(clean) - 1)) * sem
    return mean - half, mean + half


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation / mean."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.std(ddof=1) / arr.mean()) if len(arr) > 1 and arr.mean() else float("nan")
