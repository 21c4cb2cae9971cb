"""How a task is scored and timed: its `Metric` (streamed batch by batch where it can be) and, for a generative
task, its `Generation`. Part of the plugin contract (re-exported by `benchsuite.sdk.interfaces` and `benchsuite`);
imports no torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchsuite.errors import ParamError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Metric:
    """A task metric and its direction.

    :param name: column value in `metric`, e.g. ``accuracy``.
    :param higher_is_better: the ranking direction.
    :param compute: ``compute(logits, labels) -> float`` over the whole evaluation split.
    :param proportion: the metric is a fraction of samples (accuracy): its 95% interval is Wilson's.
    :param cluster_ids: ``cluster_ids(labels) -> ids``, one id per evaluation sample, for a split whose samples
        come in correlated groups (several crops of one photo, several questions on one passage). The task puts
        each sample's group in its labels, where it travels with the sample through batching, subsets and
        devices, and `compute` ignores it; the 95% interval is then a cluster bootstrap that resamples whole
        groups (`benchsuite.measure.stats.cluster_bootstrap_ci`), which Wilson's and the plain bootstrap, both
        assuming independent samples, would make too narrow. None: the samples are independent.
    :param per_sample: ``per_sample(logits, labels) -> rows``: one batch reduced to one small row per sample
        (a 2-D float64 tensor, e.g. the predicted class and the label; a language-model window's summed negative
        log-likelihood, token count and correct next tokens). With `from_samples`, the evaluation streams: it
        keeps these rows, never the logits (a 49,152-word vocabulary over 16k tokens would be 3 GB), and the
        bootstrap resamples rows. Built-in metrics all stream; a metric with `compute` alone is scored on the
        concatenated logits, as before.
    :param from_samples: ``from_samples(rows) -> float``: the metric from the rows of any subset of samples;
        ``from_samples(cat(per_sample(l, y) for each batch))`` equals ``compute(cat(l), cat(y))``.
    """

    name: str
    higher_is_better: bool
    compute: Callable[["torch.Tensor", "torch.Tensor"], float]
    proportion: bool = False
    cluster_ids: Callable[[torch.Tensor], torch.Tensor] | None = None
    per_sample: Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"] | None = None
    from_samples: Callable[["torch.Tensor"], float] | None = None

    @property
    def streams(self) -> bool:
        """Whether evaluation keeps per-sample rows (`per_sample`, `from_samples`) instead of all logits."""
        return self.per_sample is not None and self.from_samples is not None


@dataclass(frozen=True)
class Generation:
    """How a generative task (modality ``causal-lm``) is timed: as text generation, not one forward pass.

    Each timed call is one generation: **prefill** of a fixed real prompt of `prompt_tokens` tokens (its time
    is the time to first token, TTFT), then **decode** of `new_tokens` tokens, one at a time, with the KV cache
    and greedy decoding that ignores end-of-text (time per output token, TPOT = decode time / (new_tokens - 1),
    and tokens/s), at batch 1 and at the task's `batch_size`. Every method of the task is timed on the same
    prompts (`Task.prompts`).

    The task's model (and so every compressed model, since methods change it in place) is an ``nn.Module``
    with two calls: ``model(input_ids) -> logits`` of shape ``[batch, tokens, vocab]`` (evaluation), and
    ``model(input_ids, cache) -> logits`` for generation, where ``cache = model.new_cache()`` holds the keys and
    values of the tokens so far and is extended in place by each call; generation reads the last position's
    logits only (``logits[:, -1]``), so this call may compute just those (``[batch, 1, vocab]``).
    """

    prompt_tokens: int = 128
    new_tokens: int = 64

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1:
            raise ParamError(f"prompt_tokens is {self.prompt_tokens}: a generation needs a prompt of at least 1 token")
        if self.new_tokens < 2:
            raise ParamError(f"new_tokens is {self.new_tokens}: a generation must decode at least 2 tokens (the "
                             "first comes from the prefill; TPOT needs one more); raise new_tokens")
