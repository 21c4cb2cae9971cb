"""Checks of the timing harness itself: agreement with torch.utils.benchmark, overhead per call, repeatability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .interfaces import Inputs
from .measure import LatencyStats, TimingPolicy, time_latency
from .stats import coefficient_of_variation

#: benchsuite's p50 and Timer.blocked_autorange's median must agree within this (the issue's acceptance bound)
AGREEMENT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Agreement:
    """benchsuite's median latency next to torch.utils.benchmark.Timer's, for the same call in the same process."""

    label: str
    benchsuite_p50_ms: float
    timer_median_ms: float
    threads: int

    @property
    def difference(self) -> float:
        """benchsuite / Timer - 1."""
        return self.benchsuite_p50_ms / self.timer_median_ms - 1

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= AGREEMENT_TOLERANCE


def timer_agreement(label: str, fn: Callable[..., object], inputs: Inputs, policy: TimingPolicy,
                    min_run_time: float = 2.0, rounds: int = 3) -> Agreement:
    """Time ``fn(*inputs)`` with benchsuite's harness and with ``Timer.blocked_autorange`` (same threads), in
    `rounds` alternating rounds; compare the medians over rounds, so that drift between timings cancels out."""
    from torch.utils.benchmark import Timer

    threads = torch.get_num_threads()
    timer = Timer(stmt="fn(*inputs)", globals={"fn": fn, "inputs": inputs}, num_threads=threads)
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(time_latency(fn, inputs, policy).p50_ms)
        with torch.inference_mode():
            theirs.append(timer.blocked_autorange(min_run_time=min_run_time).median * 1e3)
    return Agreement(label, float(np.median(ours)), float(np.median(theirs)), threads)


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
                echo: Callable[[str], None] = lambda line: None) -> pd.DataFrame:
    """All three checks on each task's reference model (eager, this machine's default threads), at the task
    batch size and at batch 1; one table row per task and batch size. `echo` gets a line per finished check."""
    from .paths import cache_dir

    policy = TimingPolicy.quick() if quick else TimingPolicy()
    overhead = harness_overhead(TimingPolicy.quick() if quick else TimingPolicy(min_calls=100_000))
    echo(f"harness overhead (no-op call): p50 {overhead.p50_ms * 1e3:.2f} µs, p99 {overhead.p99_ms * 1e3:.2f} µs "
         f"over {overhead.samples} calls")
    rows = []
    for name in task_names:
        task = plugins.tasks.get(name)()
        model = task.reference_model(cache_dir()).eval()
        for batch in (task.batch_size, 1):
            inputs = task.latency_inputs(batch)
            agreement = timer_agreement(f"{name} b{batch}", model, inputs[0], policy,
                                        min_run_time=0.2 if quick else 2.0)
            p50s, cv = repeatability(model, inputs, policy, repeats)
            rows.append({"task": name, "batch": batch, "benchsuite p50 ms": agreement.benchsuite_p50_ms,
                         "Timer median ms": agreement.timer_median_ms, "difference %": agreement.difference * 100,
                         "agrees": agreement.agrees, "threads": agreement.threads,
                         f"p50 CV % ({repeats} repeats)": cv * 100, "harness overhead µs": overhead.p50_ms * 1e3,
                         "repeat p50s ms": " ".join(f"{v:.3g}" for v in p50s)})
            echo(f"{name} b{batch}: benchsuite {agreement.benchsuite_p50_ms:.3f} ms, Timer "
                 f"{agreement.timer_median_ms:.3f} ms ({agreement.difference * 100:+.1f}%); CV {cv * 100:.1f}%")
    return pd.DataFrame(rows)
