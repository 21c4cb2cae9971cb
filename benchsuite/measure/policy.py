"""How long to warm up and how long to time (TimingPolicy). Imports no torch: run options carry it."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and how long to time.

    Warm-up runs at least `warmup_calls` calls, `warmup_seconds` and (if `warmup_full_pass`) one pass over the
    inputs, then goes on in windows (one pass over the inputs, at least 5 calls) until the median of a window
    is within `steady_tolerance` of the previous window's, or `max_warmup_seconds` pass (recorded as not
    steady; a `max_warmup_seconds` of 0 skips the check, also recorded as not steady). Timing then runs until
    both `min_calls` and `min_seconds` are reached (or `max_seconds` passes, which the sample count records).

    A method and its baseline are timed interleaved (measure/interleave.py): rounds of at least `round_calls`
    calls and `round_seconds` of each model, at least `min_rounds` rounds (and `min_calls`, `min_seconds`), then
    until the speedup's 95% interval is within ±`speedup_precision` of it (0: no target) or
    `rounds_max_seconds` pass (the time cap, at each batch size).

    A configuration is timed in `processes` worker processes, one after another, and their rounds pooled
    (execution/passes.py): a process's speedup carries an offset of its own (measured: repeated timings in one
    process agree within about 1%, separate processes differ by 2-4%), which only more processes average out.
    Each process times with `in_processes` (its share of the rounds, the cap and the precision).

    The stored speedup interval adds `between_runs_sd`, the relative standard deviation of a configuration's
    speedup between separate runs on one machine that the rounds of one run cannot see (measured by
    `benchmarks/reproducibility.py`; 0.02 on the machine where it was measured, see docs/methodology.md):
    results/rows.py `speedup_of_rounds`. The stopping rule uses the rounds' own interval, which more rounds narrow.
    """

    warmup_calls: int = 10
    warmup_seconds: float = 1.0
    steady_tolerance: float = 0.05
    max_warmup_seconds: float = 30.0
    min_calls: int = 50
    min_seconds: float = 2.0
    max_seconds: float = 60.0
    warmup_full_pass: bool = True
    min_rounds: int = 8
    round_calls: int = 3
    round_seconds: float = 0.2
    speedup_precision: float = 0.03
    rounds_max_seconds: float = 20.0
    between_runs_sd: float = 0.02
    #: worker processes a configuration is timed in (their rounds pooled); 1 where a run cannot start more
    #: (``--isolate none``, no artifact cache)
    processes: int = 2
    #: calls per window of the steadiness check (at least one pass over the inputs)
    steady_window_calls: int = 5

    def for_generation(self) -> TimingPolicy:
        """This policy for timed generations (`benchsuite.Generation`), each a prefill and tens of decode steps,
        seconds long on a CPU: a round is one generation of each model, warm-up three generations and a
        steadiness check over windows of three (a generation already averages over its decode steps), at least
        6 calls and 8 rounds. The precision target, the time cap and the between-runs term stay."""
        from dataclasses import replace

        return replace(self, warmup_calls=min(self.warmup_calls, 3), warmup_seconds=0.0, warmup_full_pass=False,
                       steady_window_calls=min(self.steady_window_calls, 3), min_calls=min(self.min_calls, 6),
                       min_seconds=0.0, round_calls=1, round_seconds=0.0)

    def in_processes(self, count: int) -> TimingPolicy:
        """This policy for one of `count` processes whose rounds are pooled: each takes its share of the minimum
        calls and seconds and of the time cap (rounds_max_seconds / count), at least max(6, min_rounds / count)
        rounds (6 is the fewest with a 95% interval), and times to ±speedup_precision·√count (the pooled rounds'
        part of the interval is then within ±speedup_precision)."""
        if count <= 1:
            return self
        from dataclasses import replace

        return replace(self, min_rounds=max(6, math.ceil(self.min_rounds / count)),
                       min_calls=math.ceil(self.min_calls / count), min_seconds=self.min_seconds / count,
                       speedup_precision=self.speedup_precision * math.sqrt(count),
                       rounds_max_seconds=self.rounds_max_seconds / count)

    @classmethod
    def quick(cls) -> TimingPolicy:
        """A smoke test's timing: two warm-up calls, no steadiness check, six rounds of one call each (at least
        five calls), no precision target, one process."""
        return cls(warmup_calls=2, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=5, min_seconds=0.05,
                   max_seconds=5.0, warmup_full_pass=False, min_rounds=6, round_calls=1, round_seconds=0.0,
                   speedup_precision=0.0, rounds_max_seconds=5.0, processes=1)
