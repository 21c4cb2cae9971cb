"""Task metrics over logits and labels: accuracy and macro-F1."""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy."""
    return float((logits.argmax(dim=-1) == labels).float().mean())


def macro_f1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Unweighted mean over classes of F1 (a class never predicted nor present counts as 0; classes are those
    of the logits)."""
    predicted = logits.argmax(dim=-1)
    scores = []
    for cls in range(logits.shape[-1]):
        tp = int(((predicted == cls) & (labels == cls)).sum())
        fp = int(((predicted == cls) & (labels != cls)).sum())
        fn = int(((predicted != cls) & (labels == cls)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores))
