"""A cell timed in several worker processes (execution/passes.py): the pooling, the checks on the extra
processes, the speedup and interval of pooled rounds, and a real run that times each cell in two workers."""

import math
import statistics

import pandas as pd
import pytest

from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.passes import pooled_outcome, pooled_values, time_in_more_processes
from benchsuite.grid.options import RunOptions
from benchsuite.grid.orchestration import run_grid
from benchsuite.grid.planning import build_grid
from benchsuite.measure.intervals import pooled_speedup, repeat_run_interval
from benchsuite.measure.policy import TimingPolicy
from benchsuite.results.rows import speedup_of_rounds
from benchsuite.results.schema import COL

#: short timing with rounds, in two processes: enough rounds for an interval in each
TWO = TimingPolicy(warmup_calls=2, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=6, min_seconds=0.0,
                   max_seconds=5.0, warmup_full_pass=False, min_rounds=12, round_calls=1, round_seconds=0.0,
                   speedup_precision=0.0, rounds_max_seconds=1.0, processes=2)


def timing(ratios, b1_ratios, calls, b1_calls, sha="a" * 64, stopped="precision", baseline_p50=10.0, **more):
    """The measured values of one process's timing, as a worker reports them."""
    return {COL.artifact_sha256: sha, COL.batch_size: 8, COL.timed: True, COL.timing_kind: "forward",
            COL.speedup_round_ratios: list(ratios), COL.speedup_rounds: len(ratios),
            COL.speedup_pass_rounds: [len(ratios)], COL.speedup_stopped_by: stopped,
            COL.interleaved_baseline_p50_ms: baseline_p50, COL.speedup_b1_round_ratios: list(b1_ratios),
            COL.speedup_b1_rounds: len(b1_ratios), COL.speedup_b1_pass_rounds: [len(b1_ratios)],
            COL.speedup_b1_stopped_by: stopped, COL.interleaved_baseline_b1_p50_ms: baseline_p50 / 4,
            COL.latency_samples_ms: list(calls), COL.latency_b1_samples_ms: list(b1_calls),
            COL.latency_warmup_calls: 3, COL.latency_steady: True, COL.timing_seconds: 2.0,
            COL.timing_lock_wait_seconds: 0.5, COL.timing_background_cpu: 0.01, COL.peak_memory_bytes: 100,
            COL.timing_processes: 1, **more}


def test_pooled_values_concatenate_calls_and_rounds_and_recompute_the_statistics():
    first = timing([1.0] * 6, [2.0] * 6, [4.0, 5.0, 6.0], [1.0, 1.0], baseline_p50=10.0)
    extra = timing([1.2] * 7, [2.2] * 6, [7.0, 8.0], [2.0], stopped="time cap", baseline_p50=40.0,
                   **{COL.timing_background_cpu: 0.05, COL.timing_seconds: 6.0, COL.peak_memory_bytes: 300})
    out = pooled_values(first, extra)
    assert out[COL.speedup_round_ratios] == [1.0] * 6 + [1.2] * 7 and out[COL.speedup_rounds] == 13
    assert out[COL.speedup_pass_rounds] == [6, 7] and out[COL.speedup_b1_pass_rounds] == [6, 6]
    assert out[COL.speedup_stopped_by] == "time cap"  # precision only where every process stopped by it
    assert out[COL.latency_samples_ms] == [4.0, 5.0, 6.0, 7.0, 8.0] and out[COL.latency_samples] == 5
    assert out[COL.latency_p50_ms] == 6.0 and out[COL.latency_b1_p50_ms] == 1.0
    assert out[COL.interleaved_baseline_p50_ms] == pytest.approx(20.0)  # geometric mean of 10 and 40
    assert out[COL.throughput_sps] == pytest.approx(8 / 0.006)
    assert out[COL.timing_seconds] == 8.0 and out[COL.timing_lock_wait_seconds] == 1.0
    assert out[COL.timing_background_cpu] == pytest.approx((0.01 * 2 + 0.05 * 6) / 8)
    assert out[COL.peak_memory_bytes] == 300 and out[COL.timing_processes] == 2
    assert out[COL.latency_warmup_calls] == 6
    third = pooled_values(out, timing([1.1] * 6, [2.1] * 6, [9.0], [3.0], baseline_p50=20.0))
    assert third[COL.speedup_pass_rounds] == [6, 7, 6] and third[COL.timing_processes] == 3
    assert third[COL.interleaved_baseline_p50_ms] == pytest.approx(20.0)  # weighted by processes


def test_a_generations_medians_are_pooled_weighted_by_calls():
    gen = {COL.timing_kind: "generation", COL.tpot_floor_b1_ms: 1.0}
    first = timing([1.0] * 6, [1.0] * 6, [100.0] * 3, [50.0] * 1, **gen, **{
        COL.latency_samples: 3, COL.latency_b1_samples: 1, COL.ttft_ms: 10.0, COL.tpot_ms: 4.0,
        COL.ttft_b1_ms: 5.0, COL.tpot_b1_ms: 2.0})
    extra = timing([1.0] * 6, [1.0] * 6, [100.0], [50.0] * 3, **gen, **{
        COL.latency_samples: 1, COL.latency_b1_samples: 3, COL.ttft_ms: 20.0, COL.tpot_ms: 8.0,
        COL.ttft_b1_ms: 9.0, COL.tpot_b1_ms: 4.0})
    out = pooled_values(first, extra)
    assert out[COL.ttft_ms] == 12.5 and out[COL.tpot_ms] == 5.0 and out[COL.tokens_per_s] == 8 * 1000 / 5.0
    assert out[COL.tpot_b1_ms] == 3.5 and out[COL.tokens_per_s_b1] == 1000 / 3.5
    assert out[COL.tpot_floor_fraction] == pytest.approx(1.0 / 3.5)


def test_an_extra_process_must_time_the_scored_model_and_pass_its_checks():
    first = Outcome("ok", values=timing([1.0] * 6, [1.0] * 6, [1.0], [1.0]), cost={"compress_seconds": 1.0})
    other = Outcome("ok", values=timing([1.0] * 6, [1.0] * 6, [1.0], [1.0], sha="b" * 64))
    swapped = pooled_outcome(first, other, "process 2 of 2")
    assert swapped.status == "failed" and swapped.error.startswith("integrity: the model timed in process 2 of 2 "
                                                                   "is not the one scored")
    broke = pooled_outcome(first, Outcome("failed", "integrity: outputs after timing differ", traceback="tb"),
                           "process 2 of 2")
    assert (broke.status, broke.error) == ("failed", "timing in process 2 of 2: integrity: outputs after timing differ")
    assert broke.cost == first.cost and broke.traceback == "tb"
    died = pooled_outcome(first, Outcome("crashed", "killed by signal 9"), "process 2 of 2")
    assert died.status == "crashed"
    assert pooled_outcome(first, Outcome("skipped", "no kernels"), "process 2 of 2") is first
    cached = Outcome("ok", values=other.values, cost={COL.compression_cached: True})
    assert pooled_outcome(first, cached, "process 2 of 2").status == "failed"
    made_again = Outcome("ok", values=other.values, cost={COL.compression_cached: False})
    assert pooled_outcome(first, made_again, "process 2 of 2") is first  # another model: left out


def test_more_processes_time_only_the_backends_that_measured():
    job = CellJob(task="t", steps=(("m", ()),), seed=0, backends=(("a", ()), ("b", ()), ("c", ())),
                  timing_processes=3)
    ok = Outcome("ok", values=timing([1.0] * 6, [1.0] * 6, [1.0], [1.0]))
    asked = []

    def run(again: CellJob) -> list[Outcome]:
        asked.append((again.timing_pass, [name for name, _ in again.backends]))
        return [Outcome("ok", values=timing([1.5] * 6, [1.5] * 6, [2.0], [2.0]))] * len(again.backends)

    out = time_in_more_processes(job, [ok, Outcome("skipped", "no kernels"), ok], run)
    assert asked == [(1, ["a", "c"]), (2, ["a", "c"])]
    assert [o.values.get(COL.timing_processes) for o in out] == [3, None, 3]
    assert time_in_more_processes(CellJob(task="t", steps=(), seed=0, backends=(("a", ()),)), [ok], run) == [ok]


def test_pooled_rounds_give_the_geometric_mean_of_each_processs_median():
    ratios = [0.60, 0.61, 0.59, 0.60, 0.62, 0.58] + [0.66, 0.65, 0.67, 0.66, 0.64, 0.68]
    centre, ci = speedup_of_rounds(ratios, 0.02, [6, 6])
    assert centre == pytest.approx(math.sqrt(0.60 * 0.66))
    assert ci[0] < centre < ci[1]
    assert speedup_of_rounds(ratios, 0.02)[0] == statistics.median(ratios)  # one process: the median
    with pytest.raises(ValueError, match="do not split"):
        pooled_speedup(ratios, [6, 7])


def test_two_processes_narrow_the_rounds_part_of_the_interval_by_root_two():
    one = [0.9, 0.95, 1.0, 1.05, 1.1, 1.0]
    single = repeat_run_interval(one, 0.0)
    double = repeat_run_interval(one + one, 0.0, passes=[6, 6])
    assert math.log(double[1] / 1.0) == pytest.approx(math.log(single[1] / 1.0) / math.sqrt(2))
    assert repeat_run_interval(one[:5] + one, 0.0, passes=[5, 6]) is None  # a process without an interval


def test_a_process_times_its_share_of_the_policy():
    share = TimingPolicy().in_processes(2)
    assert (share.min_rounds, share.min_calls, share.rounds_max_seconds) == (6, 25, 10.0)
    assert share.speedup_precision == pytest.approx(0.03 * math.sqrt(2))
    assert TimingPolicy().in_processes(1) == TimingPolicy() and TimingPolicy.quick().processes == 1


def test_a_run_times_each_cell_in_two_worker_processes(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve"], ["torch-cpu"])
    rows = run_grid(toy_plugins, grid, RunOptions(isolate="cell", timing=TWO), progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"], [r["error"] for r in rows]
    for row in rows:
        passes = list(row[COL.speedup_pass_rounds])
        assert row[COL.timing_processes] == 2 and len(passes) == 2 and min(passes) >= 6
        assert sum(passes) == row[COL.speedup_rounds] == len(row[COL.speedup_round_ratios])
        assert len(row[COL.speedup_b1_pass_rounds]) == 2
        assert row[COL.latency_samples] == len(row[COL.latency_samples_ms])
    method = rows[1]
    ratios = list(method[COL.speedup_round_ratios])
    first, second = ratios[:passes[0]], ratios[passes[0]:]
    assert method["realized_speedup"] == pytest.approx(
        math.sqrt(statistics.median(first) * statistics.median(second)))
    assert method["integrity"].startswith("passed")


@pytest.mark.parametrize("options", [dict(isolate="none"), dict(isolate="cell", cache=False)],
                         ids=["in-process", "no-cache"])
def test_a_run_that_cannot_start_more_workers_times_in_one(toy_plugins, toy_cache, options):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve"], ["torch-cpu"])
    rows = run_grid(toy_plugins, grid, RunOptions(timing=TWO, **options), progress=False)
    assert [r[COL.timing_processes] for r in rows] == [1, 1]
    assert [len(r[COL.speedup_pass_rounds]) for r in rows] == [1, 1]


def test_a_schema_9_store_reads_as_timed_in_one_process(tmp_path):
    from conftest import make_row

    from benchsuite.results.frames import to_frame
    from benchsuite.results.store import ResultStore

    timed = make_row(run_id="t", latency_p50_ms=5.0, speedup_round_ratios=[1.0] * 6, speedup_rounds=6,
                     realized_speedup=1.0)
    untimed = make_row(run_id="u", status="skipped", error="no kernels", score=None, latency_p50_ms=None,
                       latency_b1_p50_ms=None, model_size_bytes=None, params_total=None, params_nonzero=None)
    v9 = to_frame([timed, untimed]).drop(columns=["timing_processes", "speedup_pass_rounds",
                                                  "speedup_b1_pass_rounds"]).assign(schema_version=9)
    v9.to_parquet(tmp_path / "results-v9.parquet")
    frame = ResultStore(tmp_path).read().set_index("run_id")
    assert frame.at["t", "timing_processes"] == 1 and pd.isna(frame.at["u", "timing_processes"])
    assert frame.at["t", "realized_speedup"] == 1.0 and frame["speedup_pass_rounds"].isna().all()


def test_a_model_that_cannot_be_cached_is_made_again_for_the_second_process(toy_plugins, toy_cache):
    """PT2E graphs and torchao's quantized tensors cannot be pickled: the second worker compresses again, with the
    cell's seed, and times the same weights."""
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-unpicklable"], ["torch-cpu"])
    rows = run_grid(toy_plugins, grid, RunOptions(isolate="cell", timing=TWO), progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[1]["compression_cached"] is False
    assert not list((toy_cache / "compressed").glob("*.json"))  # indeed not cached
    assert [r[COL.timing_processes] for r in rows] == [2, 2]
