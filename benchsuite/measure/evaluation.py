"""Scoring a prepared model on a task's evaluation batches, with the metric's interval."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from benchsuite.measure.stats import bootstrap_score_ci, wilson_interval
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

    The interval is Wilson's for a proportion of samples (accuracy, agreement), otherwise a bootstrap over the
    evaluation samples (macro-F1), both 95%.
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
    if metric.proportion:
        interval = wilson_interval(score, n)
    else:
        interval = bootstrap_score_ci(
            lambda picks: metric.compute(all_logits[picks], all_labels[picks]), n)
    return Evaluation(score, n, extras, interval)
