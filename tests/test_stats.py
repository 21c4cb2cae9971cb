"""Interval estimators against known values."""

import numpy as np
import pytest
import torch

from benchsuite.sdk.interfaces import Metric
from benchsuite.sdk.metrics import accuracy, macro_f1
from benchsuite.measure.evaluation import evaluate
from benchsuite.measure.stats import (bootstrap_median_ci, bootstrap_ratio_ci, bootstrap_score_ci, coefficient_of_variation,
                              t_interval, wilson_interval)


def test_wilson_interval_matches_the_textbook_values():
    # Newcombe (1998), example: 81 successes in 263 trials -> 0.2553 to 0.3662
    low, high = wilson_interval(81 / 263, 263)
    assert low == pytest.approx(0.2553, abs=5e-4) and high == pytest.approx(0.3662, abs=5e-4)
    assert wilson_interval(1.0, 10)[1] == pytest.approx(1.0) and wilson_interval(0.0, 10)[0] == pytest.approx(0.0)
    assert wilson_interval(0.5, 0) is None


def test_bootstrap_median_interval_covers_the_median_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    few, many = rng.lognormal(0, 0.1, 30), rng.lognormal(0, 0.1, 3000)
    for samples in (few, many):
        low, high = bootstrap_median_ci(samples)
        assert low <= np.median(samples) <= high
    assert np.ptp(bootstrap_median_ci(many)) < np.ptp(bootstrap_median_ci(few)) / 3
    assert bootstrap_median_ci([1.0]) is None


def test_bootstrap_ratio_interval_covers_the_true_speedup():
    rng = np.random.default_rng(1)
    baseline, method = 10 * rng.lognormal(0, 0.05, 400), 5 * rng.lognormal(0, 0.05, 400)
    low, high = bootstrap_ratio_ci(baseline, method)
    assert low < 2.0 < high and high - low < 0.1


def test_t_interval_and_cv():
    low, high = t_interval([0.80, 0.82, 0.84])
    assert low == pytest.approx(0.82 - 4.303 * 0.02 / np.sqrt(3), abs=1e-3) and high > 0.84
    assert t_interval([0.8]) is None
    assert coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert coefficient_of_variation([9.0, 11.0]) == pytest.approx(np.sqrt(2) / 10)


def test_bootstrap_score_interval_matches_the_normal_approximation_for_a_mean():
    values = np.random.default_rng(2).normal(0.0, 1.0, 2000)
    low, high = bootstrap_score_ci(lambda picks: float(values[picks].mean()), len(values))
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.15 * half)
    assert bootstrap_score_ci(lambda picks: 0.0, 1) is None


def _predictions(n: int, correct: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three-class logits that are right on a fraction `correct` of `n` samples."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=gen)
    wrong = torch.rand(n, generator=gen) > correct
    predicted = torch.where(wrong, (labels + 1) % 3, labels)
    return torch.nn.functional.one_hot(predicted, 3).float(), labels


def test_evaluate_gives_macro_f1_a_bootstrap_interval_and_accuracy_a_wilson_interval():
    logits, labels = _predictions(1000, 0.8, 0)
    batches = [((logits[i:i + 100],), labels[i:i + 100]) for i in range(0, 1000, 100)]
    f1 = evaluate(lambda x: x, iter(batches), Metric("macro_f1", True, macro_f1))
    low, high = f1.interval
    assert f1.samples == 1000 and low < f1.score < high and 0.02 < high - low < 0.12
    acc = evaluate(lambda x: x, iter(batches), Metric("accuracy", True, accuracy, proportion=True))
    assert acc.interval == wilson_interval(acc.score, 1000)
    small = evaluate(lambda x: x, iter(batches[:1]), Metric("macro_f1", True, macro_f1))
    assert np.ptp(small.interval) > 2 * (high - low)  # ten times fewer samples, about three times wider
