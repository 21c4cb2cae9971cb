"""The timing harness: warm-up until steady, then per-call latencies and their statistics."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchsuite.measure.policy import TimingPolicy
from benchsuite.sdk.interfaces import Inputs, wall_clock_call


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency statistics in milliseconds, with the samples they come from."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    samples: int
    warmup_calls: int
    samples_ms: tuple[float, ...] = ()
    #: whether warm-up reached a steady median before `max_warmup_seconds`
    steady: bool = True

    @classmethod
    def of(cls, samples_ms: Sequence[float], warmup_calls: int = 0, steady: bool = True) -> LatencyStats:
        ms = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(float(p50), float(p90), float(p99), float(ms.mean()),
                   float(ms.std(ddof=1)) if len(ms) > 1 else 0.0, len(ms), warmup_calls,
                   tuple(float(v) for v in ms), steady)

    def throughput_sps(self, batch_size: int) -> float:
        return batch_size / (self.mean_ms / 1000.0)

    def p50_ci_ms(self) -> tuple[float, float] | None:
        """Bootstrap 95% interval of the median."""
        from benchsuite.measure.stats import bootstrap_median_ci

        return bootstrap_median_ci(self.samples_ms)


def warm_up(fn: Callable[..., object], cycle: Sequence[Inputs], order: Iterator[int], policy: TimingPolicy,
            timed_call: Callable[[Callable[..., object], Inputs], int]) -> tuple[int, bool, float]:
    """Warm `fn` up by TimingPolicy's rules, calling it on ``cycle[i]`` for each `i` that `order` gives. Returns
    the calls made, whether a steady median was reached, and the last call's (or window median's) ns."""
    def window(calls: int) -> float:
        return float(np.median([timed_call(fn, cycle[next(order)]) for _ in range(calls)]))

    calls, start, last = 0, time.perf_counter(), 0.0
    while (calls < max(policy.warmup_calls, len(cycle) if policy.warmup_full_pass else 0)
           or time.perf_counter() - start < policy.warmup_seconds):
        last = float(timed_call(fn, cycle[next(order)]))
        calls += 1
    steady, size = False, max(len(cycle) if policy.warmup_full_pass else 0, policy.steady_window_calls)
    if policy.max_warmup_seconds > 0:
        last = window(size)
        calls += size
        while time.perf_counter() - start < policy.max_warmup_seconds:
            current = window(size)
            calls += size
            if abs(current / last - 1) <= policy.steady_tolerance:
                steady, last = True, current
                break
            last = current
    return calls, steady, last


def time_latency(fn: Callable[..., torch.Tensor], inputs: Inputs | Sequence[Inputs], policy: TimingPolicy,
                 timed_call: Callable[[Callable[..., object], Inputs], int] = wall_clock_call) -> LatencyStats:
    """Warm up until steady, then time individual calls of ``fn(*inputs)``.

    `inputs` is one input tuple or a list of them; calls cycle through the list in order. `timed_call(fn, args)`
    returns the nanoseconds of one call (`wall_clock_call`, or a backend's device-event timer).
    """
    cycle = [inputs] if isinstance(inputs, tuple) else list(inputs)
    with torch.inference_mode():
        warm, steady, _ = warm_up(fn, cycle, itertools.cycle(range(len(cycle))), policy, timed_call)
        samples: list[int] = []
        clock, min_ns, max_ns = time.perf_counter_ns, policy.min_seconds * 1e9, policy.max_seconds * 1e9
        begin = clock()
        elapsed = 0
        while (len(samples) < policy.min_calls or elapsed < min_ns) and elapsed < max_ns:
            samples.append(timed_call(fn, cycle[len(samples) % len(cycle)]))
            elapsed = clock() - begin
    return LatencyStats.of(np.asarray(samples, dtype=np.float64) / 1e6, warm, steady)
