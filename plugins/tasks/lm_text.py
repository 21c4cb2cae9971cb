"""Language-model tasks on real text (modality ``causal-lm``): documents tokenized by the model's tokenizer, joined
into one token stream per split and cut into non-overlapping windows; scored by perplexity and next-token accuracy
(`benchsuite.sdk.metrics`) and timed as generation. Shared by smollm2-text and hf-causal-lm.

An evaluation sample is one window of ``window_tokens + 1`` tokens: the inputs are its first ``window_tokens``
tokens, the labels the next token at every position (the window shifted by one), ``IGNORE_INDEX`` where a position
is not scored.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from benchsuite import Generation, Task
from benchsuite.errors import DataError, ParamError
from benchsuite.sdk.metrics import IGNORE_INDEX, NEXT_TOKEN_ACCURACY, PERPLEXITY

from .splits import endless_shuffled

#: what joins two documents of a split in its token stream (a blank line, as between paragraphs)
DOCUMENT_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class TokenWindows:
    """Non-overlapping windows of one split: ``tokens`` ``[windows, window_tokens + 1]``, and ``starts``, True
    where a token is the first of a document (as a target it is not scored: nothing in the document before it
    predicts it)."""

    tokens: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def scored_tokens(self) -> int:
        """Labels that are scored (every window position whose target does not start a document)."""
        return int((~self.starts[:, 1:]).sum())

    def batch(self, index: np.ndarray) -> tuple[tuple[torch.Tensor], torch.Tensor]:
        """``((input_ids,), labels)`` of the windows at `index`: both ``[len(index), window_tokens]`` int64."""
        tokens = torch.from_numpy(self.tokens[index].astype(np.int64))
        labels = tokens[:, 1:].masked_fill(torch.from_numpy(self.starts[index, 1:]), IGNORE_INDEX)
        return (tokens[:, :-1].contiguous(),), labels


def cut_windows(documents: Sequence[Sequence[int]], separator: Sequence[int], window_tokens: int,
                max_windows: int | None = None, mask_starts: bool = True) -> TokenWindows:
    """The documents' tokens joined by `separator` into one stream, cut into windows of ``window_tokens + 1``
    tokens from its start; the tail shorter than a window is dropped.

    :param max_windows: keep at most this many windows (the first ones).
    :param mask_starts: mark each document's first token as not scored (False: every position is scored).
    """
    stream: list[int] = []
    starts: list[bool] = []
    for i, document in enumerate(documents):
        if i:
            stream.extend(separator)
            starts.extend([False] * len(separator))
        stream.extend(document)
        starts.extend([mask_starts] + [False] * (len(document) - 1))
    width = window_tokens + 1
    count = len(stream) // width if max_windows is None else min(max_windows, len(stream) // width)
    return TokenWindows(np.asarray(stream[:count * width], dtype=np.int32).reshape(count, width),
                        np.asarray(starts[:count * width], dtype=bool).reshape(count, width))


def tokenize_documents(tokenizer: Any, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
    """Each text's token ids (no special tokens) and the ids of `DOCUMENT_SEPARATOR`, by a transformers
    tokenizer (``verbose=False``: a document longer than the model's context is cut into windows, not fed whole)."""
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    return ids, tokenizer(DOCUMENT_SEPARATOR, add_special_tokens=False)["input_ids"]


def split_documents(lengths: Sequence[int], evaluable: Sequence[bool], tokens_needed: int, separator_tokens: int,
                    seed: int) -> tuple[list[int], list[int]]:
    """Split documents (by their token counts, `lengths`) into evaluation and training, both in one seeded order:
    evaluation takes whole documents marked `evaluable`, in that order, until their joined stream holds
    `tokens_needed` tokens; training takes every other document. No document is in both."""
    order = np.random.default_rng(seed).permutation(len(lengths)).tolist()
    evaluated: list[int] = []
    stream = -separator_tokens
    for i in order:
        if stream >= tokens_needed:
            break
        if evaluable[i]:
            evaluated.append(i)
            stream += separator_tokens + lengths[i]
    chosen = set(evaluated)
    return evaluated, [i for i in order if i not in chosen]


def context_length(config: Any) -> int | None:
    """The longest sequence a transformers model config allows (None when the config does not say)."""
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class CausalLMTextTask(Task):
    """Perplexity of a causal LM on the windows of a text corpus's evaluation split; fine-tuning and calibration
    draw windows of the training documents. Subclasses provide the windows (`windows`) and the model."""

    modality = "causal-lm"
    metric = PERPLEXITY
    extra_metrics = (NEXT_TOKEN_ACCURACY,)
    #: generation timing's larger batch (batch 1 is timed too); evaluation runs at this batch as well
    batch_size = 4
    finetune_batch_size = 4
    finetune_lr = 2e-5
    generation = Generation(prompt_tokens=128, new_tokens=32)
    #: tokens a window feeds the model (each window holds one more: the last position's label)
    window_tokens: ClassVar[int] = 256
    #: evaluation windows (the first ones of the evaluation split's stream); None: all of them
    eval_windows: ClassVar[int | None] = 64
    #: the first token of each document is not scored (False when a dataset's rows are lines or paragraphs of
    #: longer texts rather than documents)
    mask_document_starts: ClassVar[bool] = True

    @abstractmethod
    def windows(self, split: str) -> TokenWindows:
        """The windows of `split`, ``eval`` or ``train`` (built once per process, or read from a cache)."""

    def check_lengths(self, context_tokens: int | None) -> None:
        """Refuse windows and generations the model's context (`context_tokens`, None: unknown) cannot hold, and
        prompts longer than a window (they are cut from evaluation windows)."""
        generation = self.generation
        if generation is not None and generation.prompt_tokens > self.window_tokens:
            raise ParamError(f"{self.name}: generation.prompt_tokens is {generation.prompt_tokens}, but prompts are "
                             f"cut from evaluation windows of {self.window_tokens} tokens (window_tokens); lower "
                             "prompt_tokens or raise window_tokens")
        if context_tokens is None:
            return
        if self.window_tokens > context_tokens:
            raise ParamError(f"{self.name}: window_tokens is {self.window_tokens}, longer than the model's context of "
                             f"{context_tokens} tokens (max_position_embeddings); lower window_tokens to at most "
                             f"{context_tokens}")
        if generation is not None and generation.prompt_tokens + generation.new_tokens > context_tokens:
            raise ParamError(f"{self.name}: a generation of {generation.prompt_tokens} prompt tokens + "
                             f"{generation.new_tokens} new tokens is longer than the model's context of {context_tokens} "
                             "tokens (max_position_embeddings); lower generation.prompt_tokens or new_tokens")

    def _split(self, name: str) -> TokenWindows:
        split = self.windows(name)
        if not len(split):
            raise DataError(f"{self.name}: the {name} split has no window of {self.window_tokens + 1} tokens; lower "
                            "window_tokens or use more text")
        return split

    def eval_batches(self, batch_size: int, limit: int | None = None) -> Iterator[tuple]:
        split = self._split("eval")
        order = np.arange(len(split))
        if limit is not None and limit < len(split):  # a fixed random subset, in evaluation order
            order = np.sort(np.random.default_rng(0).permutation(len(split))[:limit])
        for start in range(0, len(order), batch_size):
            yield split.batch(order[start:start + batch_size])

    def train_batches(self, batch_size: int, seed: int) -> Iterator[tuple]:
        split = self._split("train")
        if len(split) < batch_size:
            raise DataError(f"{self.name}: {len(split)} training windows, fewer than a batch of {batch_size}")
        for index in endless_shuffled(len(split), batch_size, seed):
            yield split.batch(np.sort(index))

    def example_inputs(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        split = self._split("eval")
        return split.batch(np.arange(batch_size) % len(split))[0]

    def split_sizes(self) -> dict[str, int]:
        evaluated = self.windows("eval")
        return {"eval windows": len(evaluated), "eval tokens scored": evaluated.scored_tokens,
                "train windows": len(self.windows("train"))}

    @property
    def eval_size(self) -> int:
        return len(self.windows("eval"))
