"""Timing a cell in several worker processes and pooling what they measured.

A speedup timed interleaved in one process carries an offset of that process: timed again in the same process it
agrees within about 1%, timed in another process it moves by 2-4% (measured on mnist-cnn's quantized and pruned
models; docs/methodology.md). Only more processes average it out. So a cell's worker scores and times its model
(the first process); then, for `CellJob.timing_processes` - 1 more processes, a fresh worker loads the same
compressed model from the artifact cache and times it again against the baseline (`CellJob.timing_pass` > 0,
measuring.py `retime`), each process with its share of the timing policy (`TimingPolicy.in_processes`). The
runner pools them here before the row is built: calls and rounds are concatenated, and the row's speedup is the
geometric mean of the processes' median ratios (results/rows.py `speedup_of_rounds`).

A model that cannot be cached (it cannot be pickled: PT2E graphs, torchao's quantized tensors) is compressed again
in the further process, with the cell's seed. A further process must time the very model that was scored (same
artifact sha256) and pass the same integrity check; if a model loaded from the cache differs or the check
fails, the row fails. A model compressed again to other weights (a method that does not reproduce its result
from the seed) is not the same model: that process is left out, and the row says how many processes it pools
(`timing_processes`). Imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchsuite.execution.job import CellJob, Outcome
from benchsuite.measure.latency import LatencyStats
from benchsuite.results.rows import latency_columns
from benchsuite.results.schema import COL

#: (round ratios, rounds, rounds per process, what stopped them, the baseline's p50 in the rounds, latency prefix)
_ROUNDS = ((COL.speedup_round_ratios, COL.speedup_rounds, COL.speedup_pass_rounds, COL.speedup_stopped_by,
            COL.interleaved_baseline_p50_ms, "latency"),
           (COL.speedup_b1_round_ratios, COL.speedup_b1_rounds, COL.speedup_b1_pass_rounds,
            COL.speedup_b1_stopped_by, COL.interleaved_baseline_b1_p50_ms, "latency_b1"))
#: a generative row's medians over calls at the task batch size and at batch 1 (pooled weighted by calls)
_GENERATION = ((COL.ttft_ms, COL.tpot_ms, COL.tokens_per_s, COL.latency_samples),
               (COL.ttft_b1_ms, COL.tpot_b1_ms, COL.tokens_per_s_b1, COL.latency_b1_samples))


def time_in_more_processes(job: CellJob, outcomes: Sequence[Outcome],
                           run: Callable[[CellJob], list[Outcome]]) -> list[Outcome]:
    """`outcomes` (the cell's first process) with the timings of `job.timing_processes` - 1 more processes
    pooled in; `run` runs a job in a fresh worker and returns its outcomes, one per backend."""
    outcomes = list(outcomes)
    for number in range(1, job.timing_processes):
        timed = [i for i, o in enumerate(outcomes) if o.status == "ok" and o.values.get(COL.timing_seconds) is not None]
        if not timed:
            break
        again = run(dataclasses.replace(job, backends=tuple(job.backends[i] for i in timed), timing_pass=number))
        for i, extra in zip(timed, again):
            outcomes[i] = pooled_outcome(outcomes[i], extra, f"process {number + 1} of {job.timing_processes}")
    return outcomes


def pooled_outcome(first: Outcome, extra: Outcome, which: str) -> Outcome:
    """`first` (ok) with `extra`'s timing pooled in; a failed `extra`, or one that timed a cached model other than
    the scored one, fails the row; a skipped one, or one that compressed again to other weights, is left out."""
    if extra.status == "skipped":
        return first
    if extra.status != "ok":
        return Outcome(extra.status, f"timing in {which}: {extra.error}", cost=first.cost,
                       traceback=extra.traceback)
    scored, timed = first.values.get(COL.artifact_sha256), extra.values.get(COL.artifact_sha256)
    if scored != timed and extra.cost.get(COL.compression_cached) is False:
        return first  # compressed again (it cannot be cached) and not to the same weights: not the same model
    if scored != timed:
        return Outcome("failed", f"integrity: the model timed in {which} is not the one scored (artifact sha256 "
                                 f"{str(timed)[:12]}…, scored {str(scored)[:12]}…)", cost=first.cost)
    return Outcome("ok", first.error, pooled_values(first.values, extra.values), first.cost, first.traceback)


def _geometric(values: Sequence[float], weights: Sequence[float]) -> float | None:
    if any(v is None or not v > 0 for v in values):
        return None
    return math.exp(sum(w * math.log(v) for v, w in zip(values, weights)) / sum(weights))


def _weighted(values: Sequence[Any], weights: Sequence[float]) -> float | None:
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None
    return sum(float(v) * w for v, w in zip(values, weights)) / sum(weights)


def pooled_values(first: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The measured values of `first` (possibly already pooled) and one more process's timing `extra`, pooled:
    calls and rounds concatenated in order, latency statistics recomputed over all calls, the baseline's p50 in
    the rounds a geometric mean over processes, a generation's TTFT and TPOT averaged weighted by calls, the
    timing seconds and lock waits summed, the peak memory the larger."""
    out = dict(first)
    processes = int(first.get(COL.timing_processes) or 1)
    for ratios, rounds, passes, stopped, baseline_p50, prefix in _ROUNDS:
        out[ratios] = [*first[ratios], *extra[ratios]]
        out[rounds] = len(out[ratios])
        out[passes] = [*(first.get(passes) or [first[rounds]]), extra[rounds]]
        ends = (first[stopped], extra[stopped])
        out[stopped] = ends[0] if ends[0] == ends[1] else next(e for e in ends if e != "precision")
        out[baseline_p50] = _geometric((first[baseline_p50], extra[baseline_p50]), (processes, 1))
        samples = [*first[f"{prefix}_samples_ms"], *extra[f"{prefix}_samples_ms"]]
        out.update(latency_columns(prefix, LatencyStats.of(samples)))
    out[COL.latency_warmup_calls] = first[COL.latency_warmup_calls] + extra[COL.latency_warmup_calls]
    out[COL.latency_steady] = bool(first[COL.latency_steady] and extra[COL.latency_steady])
    out[COL.throughput_sps] = out[COL.batch_size] / (out[COL.latency_mean_ms] / 1000.0)
    if first.get(COL.timing_kind) == "generation":
        for (ttft, tpot, rate, calls), batch in zip(_GENERATION, (out[COL.batch_size], 1)):
            weights = (first[calls], extra[calls])
            out[ttft] = _weighted((first[ttft], extra[ttft]), weights)
            out[tpot] = _weighted((first[tpot], extra[tpot]), weights)
            out[rate] = batch * 1000.0 / out[tpot]
        floor = first.get(COL.tpot_floor_b1_ms)
        out[COL.tpot_floor_fraction] = floor / out[COL.tpot_b1_ms] if floor is not None else None
    seconds = (first[COL.timing_seconds], extra[COL.timing_seconds])
    out[COL.timing_background_cpu] = _weighted((first[COL.timing_background_cpu],
                                                extra[COL.timing_background_cpu]), seconds)
    out[COL.timing_seconds] = sum(seconds)
    out[COL.timing_lock_wait_seconds] = first[COL.timing_lock_wait_seconds] + extra[COL.timing_lock_wait_seconds]
    peaks = [v for v in (first.get(COL.peak_memory_bytes), extra.get(COL.peak_memory_bytes)) if v is not None]
    out[COL.peak_memory_bytes] = max(peaks) if peaks else None
    out[COL.timing_processes] = processes + 1
    return out
