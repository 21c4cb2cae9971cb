"""The timing harness: warm-up until steady, then per-call latencies and their statistics (LatencyStats, kept
in measure/latency.py so that pooling timings needs no torch)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from benchsuite.measure.latency import LatencyStats
from benchsuite.measure.policy import TimingPolicy
from benchsuite.sdk.interfaces import Inputs, wall_clock_call

__all__ = ["LatencyStats", "time_latency", "warm_up"]


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
