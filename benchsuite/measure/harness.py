"""Checks of the timing harness itself: agreement with torch.utils.benchmark, overhead per call, repeatability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchsuite.measure.policy import TimingPolicy
from benchsuite.measure.stats import coefficient_of_variation
from benchsuite.measure.timing import LatencyStats, time_latency
from benchsuite.sdk.interfaces import Inputs

#: benchsuite's p50 and Timer.blocked_autorange's median must agree within this (the issue's acceptance bound)
AGREEMENT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Agreement:
    """benchsuite's median latency next to torch.utils.benchmark.Timer's, for the same call in the same process,
    over several alternating rounds (one value of each timer per round)."""

    label: str
    benchsuite_p50_ms: tuple[float, ...]
    timer_median_ms: tuple[float, ...]
    threads: int

    @property
    def difference(self) -> float:
        """Median over rounds of benchsuite / Timer - 1: each round's two timings are minutes apart at most, so
        the pairing cancels drift of the machine between rounds."""
        return float(np.median(np.divide(self.benchsuite_p50_ms, self.timer_median_ms))) - 1

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= AGREEMENT_TOLERANCE


def timer_agreement(label: str, fn: Callable[..., object], inputs: Inputs, policy: TimingPolicy,
                    min_run_time: float = 1.0, rounds: int = 5) -> Agreement:
    """Time ``fn(*inputs)`` with benchsuite's harness and with ``Timer.blocked_autorange`` (same threads), in
    `rounds` rounds that alternate which timer goes first."""
    from torch.utils.benchmark import Timer

    threads = torch.get_num_threads()
    timer = Timer(stmt="fn(*inputs)", globals={"fn": fn, "inputs": inputs}, num_threads=threads)

    def theirs() -> float:
        with torch.inference_mode():
            return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3

    def ours() -> float:
        return time_latency(fn, inputs, policy).p50_ms

    pairs = []
    for r in range(rounds):
        if r % 2:
            t = theirs()
            pairs.append((ours(), t))
        else:
            o = ours()
            pairs.append((o, theirs()))
    return Agreement(label, tuple(o for o, _ in pairs), tuple(t for _, t in pairs), threads)


def _noop(*_args: object) -> None:
    return None


def harness_overhead(policy: TimingPolicy = TimingPolicy(min_calls=100_000, min_seconds=1.0)) -> LatencyStats:
    """Latency of a call that does nothing: what the harness adds to every timed call (clock reads, dispatch)."""
    return time_latency(_noop, (), policy)


def repeatability(fn: Callable[..., object], inputs: Sequence[Inputs], policy: TimingPolicy,
                  repeats: int = 5) -> tuple[list[float], float]:
    """p50 of `repeats` independent timings (each with its own warm-up) and their coefficient of variation."""
    p50s = [time_latency(fn, list(inputs), policy).p50_ms for _ in range(repeats)]
    return p50s, coefficient_of_variation(p50s)


def check_tasks(plugins: Any, task_names: Sequence[str], repeats: int = 5, quick: bool = False,
                threads: int | None = None, rounds: int = 5,
                echo: Callable[[str], None] = lambda line: None) -> pd.DataFrame:
    """All three checks on each task's reference model (eager; `threads` intra-op threads, default this
    machine's), at the task batch size and at batch 1; one table row per task and batch size. `echo` gets a line
    per finished check."""
    from benchsuite.measure.allocator import warm_heap
    from benchsuite.sdk.paths import cache_dir

    echo(f"allocator: {warm_heap()}")
    policy = TimingPolicy.quick() if quick else TimingPolicy()
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        overhead = harness_overhead(TimingPolicy.quick() if quick else TimingPolicy(min_calls=100_000))
        echo(f"harness overhead (no-op call): p50 {overhead.p50_ms * 1e3:.2f} µs, "
             f"p99 {overhead.p99_ms * 1e3:.2f} µs over {overhead.samples} calls")
        rows = []
        for name in task_names:
            task = plugins.tasks.get(name)()
            model = task.reference_model(cache_dir()).eval()
            for batch in (task.batch_size, 1):
                inputs = task.latency_inputs(batch)
                agreement = timer_agreement(f"{name} b{batch}", model, inputs[0], policy,
                                            min_run_time=policy.min_seconds, rounds=rounds)
                p50s, cv = repeatability(model, inputs, policy, repeats)
                ours, theirs = float(np.median(agreement.benchsuite_p50_ms)), float(np.median(agreement.timer_median_ms))
                rows.append({"task": name, "batch": batch, "threads": agreement.threads,
                             "benchsuite p50 ms": ours, "Timer median ms": theirs,
                             "difference %": agreement.difference * 100, "agrees": agreement.agrees,
                             f"p50 CV % ({repeats} repeats)": cv * 100,
                             "harness overhead µs": overhead.p50_ms * 1e3,
                             "round pairs ms": " ".join(f"{o:.3g}/{t:.3g}" for o, t in
                                                        zip(agreement.benchsuite_p50_ms, agreement.timer_median_ms)),
                             "repeat p50s ms": " ".join(f"{v:.3g}" for v in p50s)})
                echo(f"{name} b{batch} threads={agreement.threads}: benchsuite {ours:.3f} ms, Timer {theirs:.3f} ms "
                     f"({agreement.difference * 100:+.1f}% median over {rounds} paired rounds); CV {cv * 100:.1f}%")
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(rows)
