"""What the built-in methods share to handle language models (modality ``causal-lm``): a training loss that scores
classifier logits and next-token logits alike, and the skip of a method built for classifiers only."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.nn import functional as F

from benchsuite import CompressionMethod, TaskInfo
from benchsuite.sdk.metrics import IGNORE_INDEX

CAUSAL_LM = "causal-lm"


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of classifier logits ``[batch, classes]`` against labels ``[batch]``, or of a language model's
    next-token logits ``[batch, tokens, vocab]`` against the next-token ids ``[batch, tokens]``, averaged over the
    scored tokens (`IGNORE_INDEX` marks the others)."""
    if logits.dim() >= 3 and labels.shape == logits.shape[:-1]:
        return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=IGNORE_INDEX)
    return F.cross_entropy(logits, labels)


def training_loss(logits: torch.Tensor, _inputs: tuple, labels: torch.Tensor) -> torch.Tensor:
    """`cross_entropy` as `benchsuite.sdk.training.train` calls its ``loss_fn`` (its default loss takes classifier
    logits only)."""
    return cross_entropy(logits, labels)


class SkipsLanguageModels(CompressionMethod):
    """A method built for classifiers: a ``causal-lm`` task gets a skipped row whose reason names what is missing."""

    modalities = ("vision", "nlp")
    #: why a language model cannot be compressed this way (the skipped row's reason)
    causal_lm_missing: ClassVar[str]

    def supports(self, task: TaskInfo) -> str | None:
        if task.modality == CAUSAL_LM:
            return self.causal_lm_missing
        return super().supports(task)
