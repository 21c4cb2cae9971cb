"""The cluster bootstrap: intervals for scores over samples that come in correlated groups (crops of a photo)."""

import numpy as np
import pytest
import torch

from benchsuite.errors import PluginError
from benchsuite.measure.evaluation import evaluate
from benchsuite.measure.stats import (
    bootstrap_score_ci,
    cluster_bootstrap_ci,
    wilson_interval,
)
from benchsuite.sdk.interfaces import Metric


def _mean_of(values: np.ndarray):
    return lambda picks: float(values[picks].mean())


def _correlated_hits(clusters: int = 12, per_cluster: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes whose rate differs by cluster (as agreement differs by photo), and each sample's cluster."""
    rng = np.random.default_rng(seed)
    rates = rng.choice([0.3, 0.95, 1.0], size=clusters)
    hits = np.concatenate([rng.random(per_cluster) < rate for rate in rates]).astype(np.float64)
    return hits, np.repeat(np.arange(clusters), per_cluster)


def test_a_cluster_bootstrap_with_one_sample_per_cluster_is_the_plain_bootstrap():
    values = np.random.default_rng(1).random(50)
    plain = bootstrap_score_ci(_mean_of(values), len(values), seed=3)
    assert cluster_bootstrap_ci(_mean_of(values), np.arange(len(values)), seed=3) == plain


def test_the_cluster_bootstrap_is_at_least_as_wide_as_the_naive_intervals_on_correlated_samples():
    hits, clusters = _correlated_hits()
    low, high = cluster_bootstrap_ci(_mean_of(hits), clusters)
    naive_low, naive_high = bootstrap_score_ci(_mean_of(hits), len(hits))
    wilson_low, wilson_high = wilson_interval(float(hits.mean()), len(hits))
    assert low <= hits.mean() <= high
    assert high - low >= naive_high - naive_low and high - low >= wilson_high - wilson_low
    assert high - low > 1.5 * (wilson_high - wilson_low)  # 12 photos hold far less information than 720 views


def test_cluster_ids_may_be_any_labels_in_any_order():
    hits, clusters = _correlated_hits(clusters=8, per_cluster=10)
    order = np.random.default_rng(2).permutation(len(hits))
    names = np.array([f"photo{c}" for c in clusters])
    shuffled = cluster_bootstrap_ci(_mean_of(hits[order]), names[order])
    assert shuffled == pytest.approx(cluster_bootstrap_ci(_mean_of(hits), clusters))
    assert cluster_bootstrap_ci(_mean_of(hits), np.zeros(len(hits))) is None  # one cluster: no interval


def _agreement_batches(hits: np.ndarray, clusters: np.ndarray, batch: int = 32):
    """Two-class logits that agree with label column 0 where `hits`, the cluster in label column 1."""
    targets = torch.zeros(len(hits), dtype=torch.long)
    predicted = torch.where(torch.from_numpy(hits).bool(), targets, 1 - targets)
    logits = torch.nn.functional.one_hot(predicted, 2).float()
    labels = torch.stack([targets, torch.from_numpy(clusters)], dim=1)
    return [((logits[i:i + batch],), labels[i:i + batch]) for i in range(0, len(hits), batch)]


def _agreement(logits, labels):
    return float((logits.argmax(-1) == labels[:, 0]).float().mean())


def test_evaluate_resamples_the_clusters_a_metric_reads_from_its_labels():
    hits, clusters = _correlated_hits()
    clustered = Metric("agreement", True, _agreement, proportion=True, cluster_ids=lambda labels: labels[:, 1])
    independent = Metric("agreement", True, _agreement, proportion=True)
    scored = evaluate(lambda x: x, iter(_agreement_batches(hits, clusters)), clustered)
    naive = evaluate(lambda x: x, iter(_agreement_batches(hits, clusters)), independent)
    assert scored.score == naive.score == pytest.approx(hits.mean()) and scored.samples == len(hits)
    assert scored.interval == pytest.approx(cluster_bootstrap_ci(_mean_of(hits), clusters))
    assert naive.interval == pytest.approx(wilson_interval(float(hits.mean()), len(hits)))
    assert scored.interval[1] - scored.interval[0] > naive.interval[1] - naive.interval[0]
    # a proportion's hits are scored once per sample and resampled; any other metric is recomputed per resample
    recomputed = Metric("agreement", True, _agreement, cluster_ids=lambda labels: labels[:, 1])
    slow = evaluate(lambda x: x, iter(_agreement_batches(hits, clusters)), recomputed)
    assert slow.interval == pytest.approx(scored.interval)


def test_a_metric_whose_cluster_ids_miscount_the_samples_is_a_plugin_error():
    hits, clusters = _correlated_hits(clusters=3, per_cluster=4)
    broken = Metric("agreement", True, _agreement, cluster_ids=lambda labels: labels[1:, 1])
    with pytest.raises(PluginError, match="11 ids for 12 samples"):
        evaluate(lambda x: x, iter(_agreement_batches(hits, clusters)), broken)
