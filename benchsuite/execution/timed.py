"""The timing phase of a measurement: a model and its baseline timed interleaved (measure/interleave.py) at the
task batch size and at batch 1, holding the host's timing lock, as forward passes or as whole generations; the
row's latency, round and timing columns. One worker process's share where a row is timed in several
(CellJob.timing_policy, execution/passes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchsuite.execution.bandwidth import machine_bandwidth
from benchsuite.execution.hostlock import TimingWindow, timing_lock
from benchsuite.execution.job import CellJob
from benchsuite.measure.generation import GenerationStats, Generator, tpot_floor_ms
from benchsuite.measure.interleave import time_interleaved
from benchsuite.results.rows import latency_columns
from benchsuite.results.schema import COL
from benchsuite.sdk.interfaces import Backend, Task


def timed_generation(task: Task, method: tuple[Callable[..., Any], Any], baseline: tuple[Callable[..., Any], Any],
                      backend: Backend, job: CellJob, to_device: Callable[[tuple], tuple],
                      model_bytes: int) -> dict[str, Any]:
    """A generative task's timing (`benchsuite.Generation`): whole generations (prefill of a fixed prompt, then
    greedy decode with the KV cache) of the method and of the baseline, interleaved in rounds, at the task batch
    size and at batch 1, under the host's timing lock; TTFT, TPOT and tokens/s from the method's timed calls;
    the machine's memory bandwidth and the bandwidth floor of TPOT at batch 1. `method` and `baseline` are
    (prepared callable, model) pairs; for the baseline's own row both are the same model, timed through two
    generators so that each call's prefill is matched to its own total."""
    from datetime import datetime, timezone

    spec = task.generation
    assert spec is not None
    policy = job.timing_policy.for_generation()

    def generators() -> tuple[Generator, Generator]:
        return (Generator(method[0], method[1].new_cache, spec.new_tokens, backend.synchronize),
                Generator(baseline[0], baseline[1].new_cache, spec.new_tokens, backend.synchronize))

    at_batch_prompts = [to_device(x) for x in task.prompts(task.batch_size)]
    at_one_prompts = [to_device(x) for x in task.prompts(1)]
    with timing_lock() as waited, TimingWindow() as window:
        started = datetime.now(timezone.utc)
        bandwidth = machine_bandwidth()
        batch_method, batch_baseline = generators()
        at_batch = time_interleaved(batch_method, batch_baseline, at_batch_prompts, policy, job.seed,
                                    backend.timed_call)
        one_method, one_baseline = generators()
        at_one = time_interleaved(one_method, one_baseline, at_one_prompts, policy, job.seed, backend.timed_call)
        ended = datetime.now(timezone.utc)
    batch_stats = GenerationStats.of(batch_method, at_batch.method.samples_ms, task.batch_size)
    one_stats = GenerationStats.of(one_method, at_one.method.samples_ms, 1)
    floor = tpot_floor_ms(model_bytes, bandwidth) if backend.device == "cpu" else None
    return {
        **interleaved_columns(task, at_batch, at_one, policy, job),
        COL.timing_kind: "generation",
        COL.prompt_tokens: spec.prompt_tokens,
        COL.new_tokens: spec.new_tokens,
        COL.ttft_ms: batch_stats.ttft_ms,
        COL.tpot_ms: batch_stats.tpot_ms,
        COL.tokens_per_s: batch_stats.tokens_per_s,
        COL.ttft_b1_ms: one_stats.ttft_ms,
        COL.tpot_b1_ms: one_stats.tpot_ms,
        COL.tokens_per_s_b1: one_stats.tokens_per_s,
        COL.memory_bandwidth_gbps: bandwidth / 1e9,
        COL.tpot_floor_b1_ms: floor,
        COL.tpot_floor_fraction: floor / one_stats.tpot_ms if floor is not None else None,
        COL.timing_lock_wait_seconds: waited,
        COL.timing_started_at: started.isoformat(),
        COL.timing_seconds: (ended - started).total_seconds(),
        COL.timing_processes: 1,
        COL.timing_background_cpu: window.background_cpu,
    }


def interleaved_columns(task: Task, at_batch: Any, at_one: Any, policy: Any, job: CellJob) -> dict[str, Any]:
    """The latency and round columns of interleaved timing at the task batch size and at batch 1."""
    return {
        **latency_columns("latency", at_batch.method),
        COL.latency_warmup_calls: at_batch.method.warmup_calls,
        COL.latency_steady: at_batch.method.steady and at_one.method.steady,
        COL.throughput_sps: at_batch.method.throughput_sps(task.batch_size),
        **latency_columns("latency_b1", at_one.method),
        COL.speedup_rounds: len(at_batch.round_ratios),
        COL.speedup_round_ratios: list(at_batch.round_ratios),
        COL.speedup_stopped_by: at_batch.stopped_by,
        COL.speedup_pass_rounds: [len(at_batch.round_ratios)],
        COL.speedup_between_runs_sd: policy.between_runs_sd,
        COL.interleaved_baseline_p50_ms: at_batch.baseline.p50_ms,
        COL.speedup_b1_rounds: len(at_one.round_ratios),
        COL.speedup_b1_round_ratios: list(at_one.round_ratios),
        COL.speedup_b1_stopped_by: at_one.stopped_by,
        COL.speedup_b1_pass_rounds: [len(at_one.round_ratios)],
        COL.interleaved_baseline_b1_p50_ms: at_one.baseline.p50_ms,
        COL.timing_order_seed: job.seed,
    }


def timed(task: Task, fn: Callable[..., Any], baseline: Callable[..., Any], backend: Backend, job: CellJob,
           to_device: Callable[[tuple], tuple]) -> dict[str, Any]:
    """Latency at the task batch size and at batch 1, each timed interleaved with the baseline
    (measure/interleave.py), holding the host's timing lock (hostlock.py): no other benchsuite timing phase runs
    on this machine meanwhile."""
    from datetime import datetime, timezone

    policy = job.timing_policy
    at_batch_inputs = [to_device(x) for x in task.latency_inputs(task.batch_size)]
    at_one_inputs = [to_device(x) for x in task.latency_inputs(1)]
    with timing_lock() as waited, TimingWindow() as window:
        started = datetime.now(timezone.utc)
        at_batch = time_interleaved(fn, baseline, at_batch_inputs, policy, job.seed, backend.timed_call)
        at_one = time_interleaved(fn, baseline, at_one_inputs, policy, job.seed, backend.timed_call)
        ended = datetime.now(timezone.utc)
    return {
        **interleaved_columns(task, at_batch, at_one, policy, job),
        COL.timing_kind: "forward",
        COL.timing_lock_wait_seconds: waited,
        COL.timing_started_at: started.isoformat(),
        COL.timing_seconds: (ended - started).total_seconds(),
        COL.timing_processes: 1,
        COL.timing_background_cpu: window.background_cpu,
    }
