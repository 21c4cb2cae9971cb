"""Interleaved ratio timing: a method's prepared model and its baseline timed in alternating rounds, in one
process, on the same inputs, so that the speedup is a ratio of two timings taken seconds apart.

A round times a block of calls of one model, then the same block of calls (the same inputs, in the same order)
of the other; the order of the pair alternates (A B, B A, A B, ...: A B B A A B ...), so a trend in the machine's
speed during a round favours neither. Each round gives one ratio, baseline block median / method block median;
the speedup is the median of the rounds' ratios and the rounds' 95% interval is the distribution-free
order-statistic interval of that median (no assumption on how the ratios are distributed, only that rounds are
exchangeable). Rounds go on until that interval is narrower than ±`TimingPolicy.speedup_precision` of the speedup
or the time cap `TimingPolicy.rounds_max_seconds` passes; which of the two ended them is recorded. The interval a
row stores adds what separate runs vary by beyond one run's rounds (measure/intervals.py `repeat_run_interval`).

Calls cycle through the inputs in a seeded shuffled order, reshuffled every pass (`InputOrder`), so that no model
can serve answers cached for a fixed sequence.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchsuite.measure.intervals import median_interval
from benchsuite.measure.policy import TimingPolicy
from benchsuite.measure.timing import LatencyStats, warm_up
from benchsuite.sdk.interfaces import Inputs, wall_clock_call

TimedCall = Callable[[Callable[..., object], Inputs], int]

#: why the rounds stopped: the interval reached the target width, the time cap passed, or (quick timing, which
#: has no target) the minimum number of rounds was reached
STOPPED_BY = ("precision", "time cap", "minimum")


class InputOrder:
    """An endless stream of indices into `n` inputs: one seeded random permutation per pass."""

    def __init__(self, n: int, seed: int) -> None:
        self._n, self._rng, self._pass, self._at = n, np.random.default_rng(seed), np.arange(0), 0

    def take(self, count: int) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            if self._at == len(self._pass):
                self._pass, self._at = self._rng.permutation(self._n), 0
            step = min(count - len(out), len(self._pass) - self._at)
            out.extend(int(i) for i in self._pass[self._at:self._at + step])
            self._at += step
        return out


@dataclass(frozen=True)
class Interleaved:
    """What interleaved rounds measured: both models' per-call latencies (pooled over rounds) and one ratio per
    round (baseline block median / method block median)."""

    method: LatencyStats
    baseline: LatencyStats
    round_ratios: tuple[float, ...]
    #: one of STOPPED_BY
    stopped_by: str
    calls_per_round: int

    @property
    def speedup(self) -> float:
        return float(np.median(self.round_ratios))

    @property
    def interval(self) -> tuple[float, float] | None:
        return median_interval(self.round_ratios)


def _stream(order: InputOrder) -> Iterator[int]:
    while True:
        yield from order.take(64)


def time_interleaved(method: Callable[..., object], baseline: Callable[..., object],
                     inputs: Inputs | Sequence[Inputs], policy: TimingPolicy, seed: int = 0,
                     timed_call: TimedCall = wall_clock_call) -> Interleaved:
    """Warm both models up, then time them in alternating rounds on the same inputs (module docstring).

    `method` and `baseline` may be the same callable (the baseline's own row: its rounds measure the noise floor).
    Rounds go on until at least `policy.min_rounds` rounds, `policy.min_calls` calls of each model and
    `policy.min_seconds` have passed, and then until the speedup's interval is within ±`policy.speedup_precision`
    (0: no target) or `policy.rounds_max_seconds` pass (at least `min_rounds` rounds run, unless
    `policy.max_seconds` passes first).
    """
    cycle = [inputs] if isinstance(inputs, tuple) else list(inputs)
    order = _stream(InputOrder(len(cycle), seed))
    with torch.inference_mode():
        method_warm, method_steady, method_ns = warm_up(method, cycle, order, policy, timed_call)
        baseline_warm, baseline_steady, baseline_ns = warm_up(baseline, cycle, order, policy, timed_call)
        slower_s = max(method_ns, baseline_ns, 1.0) / 1e9
        per_round = max(policy.round_calls, min(1000, math.ceil(policy.round_seconds / slower_s)))
        blocks = InputOrder(len(cycle), seed + 1)
        ratios: list[float] = []
        method_ms: list[float] = []
        baseline_ms: list[float] = []
        begin = time.perf_counter()
        stopped = "time cap"
        while True:
            picks = blocks.take(per_round)
            first, second = (method, baseline) if len(ratios) % 2 == 0 else (baseline, method)
            a = [timed_call(first, cycle[i]) / 1e6 for i in picks]
            b = [timed_call(second, cycle[i]) / 1e6 for i in picks]
            m, base = (a, b) if len(ratios) % 2 == 0 else (b, a)
            method_ms.extend(m)
            baseline_ms.extend(base)
            ratios.append(float(np.median(base) / np.median(m)))
            elapsed = time.perf_counter() - begin
            if (len(ratios) >= policy.min_rounds and len(method_ms) >= policy.min_calls
                    and elapsed >= policy.min_seconds):
                if policy.speedup_precision <= 0:
                    stopped = "minimum"
                    break
                interval = median_interval(ratios)
                centre = float(np.median(ratios))
                if interval is not None and centre > 0 and (interval[1] - interval[0]) / 2 <= (
                        policy.speedup_precision * centre):
                    stopped = "precision"
                    break
            if (elapsed >= policy.rounds_max_seconds and len(ratios) >= policy.min_rounds) or (
                    elapsed >= policy.max_seconds):  # the cap, once an interval exists; a hard stop for slow models
                break
    return Interleaved(LatencyStats.of(method_ms, method_warm, method_steady),
                       LatencyStats.of(baseline_ms, baseline_warm, baseline_steady),
                       tuple(ratios), stopped, per_round)
