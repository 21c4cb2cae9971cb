"""Timing text generation (`benchsuite.Generation`): one timed call is a prefill of a fixed prompt and a greedy
decode of a fixed number of tokens with the KV cache, end-of-text ignored. The prefill's time is the time to
first token (TTFT); the decode's time over the tokens after the first is the time per output token (TPOT).

`Generator` makes a model's generation one callable, so that interleaved rounds (measure/interleave.py) time a
method's generations against the baseline's exactly as they time forward passes; it also records each call's
prefill time, from which `GenerationStats` takes TTFT and TPOT per call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


class Generator:
    """``generator(input_ids)``: one generation of `new_tokens` tokens after the prompt `input_ids`.

    :param fn: the prepared model, called as ``fn(input_ids, cache) -> logits`` (the last position's, or all)
    :param new_cache: makes the empty KV cache each generation starts from
    :param synchronize: waits for queued device work (the backend's), so that the prefill's end is measured
    """

    def __init__(self, fn: Callable[..., torch.Tensor], new_cache: Callable[[], Any], new_tokens: int,
                 synchronize: Callable[[], None] = lambda: None) -> None:
        self.fn, self.new_cache, self.new_tokens, self.synchronize = fn, new_cache, new_tokens, synchronize
        #: each call's prefill (time to first token) in ns, in call order, warm-up calls included
        self.prefill_ns: list[int] = []

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        cache = self.new_cache()
        start = time.perf_counter_ns()
        token = self.fn(input_ids, cache)[:, -1:].argmax(dim=-1)
        self.synchronize()
        self.prefill_ns.append(time.perf_counter_ns() - start)
        tokens = [token]
        for _ in range(self.new_tokens - 1):
            token = self.fn(token, cache)[:, -1:].argmax(dim=-1)
            tokens.append(token)
        return torch.cat(tokens, dim=1)


@dataclass(frozen=True)
class GenerationStats:
    """TTFT and TPOT of the timed generations of one model at one batch size (medians over calls)."""

    ttft_ms: float
    tpot_ms: float
    batch_size: int

    @property
    def tokens_per_s(self) -> float:
        """Decode throughput: tokens generated per second over the batch (batch size / TPOT)."""
        return self.batch_size * 1000.0 / self.tpot_ms

    @classmethod
    def of(cls, generator: Generator, total_ms: Sequence[float], batch_size: int) -> GenerationStats:
        """From the generator's last ``len(total_ms)`` prefills and those calls' total times (the timed calls,
        after the warm-up ones)."""
        timed = len(total_ms)
        prefill_ms = np.asarray(generator.prefill_ns[-timed:], dtype=np.float64) / 1e6
        if len(prefill_ms) != timed:
            raise ValueError(f"{timed} timed generations but {len(prefill_ms)} prefills recorded")
        decode_ms = (np.asarray(total_ms, dtype=np.float64) - prefill_ms) / (generator.new_tokens - 1)
        return cls(float(np.median(prefill_ms)), float(np.median(decode_ms)), batch_size)


def tpot_floor_ms(model_bytes: int, bandwidth_bytes_per_s: float) -> float:
    """The least time one decode step at batch 1 can take when every weight is read once from memory: the
    model's bytes over the machine's memory bandwidth (the KV cache of a short context is left out)."""
    return model_bytes / bandwidth_bytes_per_s * 1000.0


def memory_bandwidth(size_bytes: int = 256 << 20, repeats: int = 5) -> float:
    """The machine's memory bandwidth in bytes/s, STREAM-style: the best of `repeats` triads
    ``a = b + s * c`` over float32 arrays of `size_bytes` each (far beyond any cache), counting the bytes read
    and written (3 arrays), with torch's intra-op threads."""
    n = size_bytes // 4
    b, c = torch.rand(n), torch.rand(n)
    a = torch.empty(n)
    torch.add(b, c, alpha=3.0, out=a)  # touch every page before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.add(b, c, alpha=3.0, out=a)
        best = min(best, time.perf_counter() - start)
    return 3 * n * 4 / best
