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

#: a metric on the evaluation samples at the given indices (None: on all of them)
_Scorer = Callable[[np.ndarray | None], float]


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

    A metric that streams (`Metric.streams`) gets each batch's outputs where the model left them, with the labels
    moved alongside, and evaluation keeps only its per-sample rows (on the CPU), which its score and resamples
    come from; the logits of all batches are kept (on the CPU) only for a metric with `compute` alone, and the
    labels only for those and for `Metric.cluster_ids`.

    The interval (95%) is a cluster bootstrap over the metric's clusters where it declares them
    (`Metric.cluster_ids`: the samples come in correlated groups), else Wilson's for a proportion of samples
    (accuracy) and a bootstrap over the evaluation samples otherwise (macro-F1, perplexity over token windows).
    """
    metrics = (metric, *extra)
    keep_logits = not all(m.streams for m in metrics)
    keep_labels = keep_logits or metric.cluster_ids is not None
    rows: list[list[torch.Tensor]] = [[] for _ in metrics]
    logits, labels, n = [], [], 0
    with torch.inference_mode():
        for inputs, y in batches:
            out = fn(*inputs).detach()
            for m, kept in zip(metrics, rows):
                if m.streams:
                    kept.append(_rows(m, out, y))
            if keep_logits:
                logits.append(out.float().cpu())
            if keep_labels:
                labels.append(y)
            del out  # one batch of logits alive at a time, not two, while the next batch runs
            n += len(y)
            on_batch(len(y))
    all_logits = torch.cat(logits) if keep_logits else None
    all_labels = torch.cat(labels) if keep_labels else None
    scorers = [_scorer(m, kept, all_logits, all_labels) for m, kept in zip(metrics, rows)]
    extras = {m.name: scorer(None) for m, scorer in zip(extra, scorers[1:])}
    rescore = scorers[0]
    score = rescore(None)

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


def _rows(metric: Metric, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`metric.per_sample` of one batch, as float64 on the CPU, checked to be one row per sample."""
    assert metric.per_sample is not None  # only streaming metrics get here
    rows = torch.as_tensor(metric.per_sample(out, labels.to(out.device))).to("cpu", torch.float64)
    if rows.dim() != 2 or len(rows) != len(labels):
        raise PluginError(f"the metric {metric.name}'s per_sample gave rows of shape {tuple(rows.shape)} for "
                          f"{len(labels)} samples; it must give a 2-D tensor of one row per sample")
    return rows


def _scorer(metric: Metric, rows: list[torch.Tensor], logits: torch.Tensor | None,
            labels: torch.Tensor | None) -> _Scorer:
    """`metric` on any subset of the evaluation samples: from its rows where it streams (resampling rows costs
    next to nothing), else recomputed from the kept logits and labels."""
    from_samples = metric.from_samples
    if metric.streams and from_samples is not None:
        kept = torch.cat(rows)
        return lambda picks: float(from_samples(kept if picks is None else kept[torch.as_tensor(picks)]))
    assert logits is not None and labels is not None  # kept whenever a metric does not stream

    def recomputed(picks: np.ndarray | None) -> float:
        if picks is None:
            return float(metric.compute(logits, labels))
        return float(metric.compute(logits[picks], labels[picks]))

    return recomputed
