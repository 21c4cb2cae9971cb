"""Scoring a prepared model on a task's evaluation batches, with the metric's interval."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchsuite.errors import PluginError
from benchsuite.measure.stats import (
    bootstrap_score_ci,
    cluster_bootstrap_ci,
    wilson_interval,
)
from benchsuite.sdk.interfaces import Batch, Metric


@dataclass(frozen=True)
class Evaluation:
    """A model's score over the evaluation split, with its 95% interval (None where it has none)."""

    score: float
    samples: int
    extras: dict[str, float]
    interval: tuple[float, float] | None


def evaluate(fn: Callable[..., torch.Tensor], batches: Iterator[Batch], metric: Metric,
             on_batch: Callable[[int], None] = lambda n: None,
             extra: Sequence[Metric] = ()) -> Evaluation:
    """Run `fn` over the evaluation batches and score it with `metric` (and each `extra` metric).

    The interval (95%) is a cluster bootstrap over the metric's clusters where it declares them
    (`Metric.cluster_ids`: the samples come in correlated groups), else Wilson's for a proportion of samples
    (accuracy) and a bootstrap over the evaluation samples otherwise (macro-F1).
    """
    logits, labels = [], []
    with torch.inference_mode():
        for inputs, y in batches:
            out = fn(*inputs)
            logits.append(out.detach().float().cpu())
            labels.append(y)
            on_batch(len(y))
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)
    extras = {m.name: float(m.compute(all_logits, all_labels)) for m in extra}
    score, n = float(metric.compute(all_logits, all_labels)), len(all_labels)

    def rescore(picks: np.ndarray) -> float:
        return float(metric.compute(all_logits[picks], all_labels[picks]))

    if metric.cluster_ids is not None:
        clusters = torch.as_tensor(metric.cluster_ids(all_labels)).cpu().numpy().reshape(-1)
        if len(clusters) != n:
            raise PluginError(f"the metric {metric.name}'s cluster_ids gave {len(clusters)} ids for {n} samples")
        if metric.proportion:  # a mean of per-sample hits: score each sample once, then resample the hits
            hits = np.array([rescore(np.array([i])) for i in range(n)])
            interval = cluster_bootstrap_ci(lambda picks: float(hits[picks].mean()), clusters)
        else:
            interval = cluster_bootstrap_ci(rescore, clusters)
    elif metric.proportion:
        interval = wilson_interval(score, n)
    else:
        interval = bootstrap_score_ci(rescore, n)
    return Evaluation(score, n, extras, interval)
