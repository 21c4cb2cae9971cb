"""execution/cell.py and isolation.InProcess: one cell compressed once, measured per backend, every phase an event."""

import pytest

from benchsuite.execution.isolation import InProcess
from benchsuite.execution.job import CellJob, CellOptions


def job(steps, backends=(("torch-cpu", ()),), **options):
    return CellJob(task="toy-blobs", steps=tuple((name, ()) for name in steps), seed=0, backends=backends,
                   options=CellOptions(quick=True, cache=False, **options))


@pytest.fixture
def recorded(toy_plugins, toy_cache, one_thread):
    from benchsuite.execution.cell import execute
    from benchsuite.sdk.paths import cache_dir

    task = toy_plugins.tasks.get("toy-blobs")()
    reference = task.reference_model(cache_dir())

    def run(cell_job):
        seen = []
        execute(cell_job, toy_plugins, task, reference, seen.append)
        return seen
    return run


def test_a_cell_reports_compression_then_each_backends_measurement(recorded):
    seen = recorded(job(["toy-halve"], backends=(("torch-cpu", ()), ("torch-cpu", (("threads", 1),)))))
    assert [e["event"] for e in seen] == ["compressing", "compressed", "measuring", "result", "measuring", "result"]
    results = [e for e in seen if e["event"] == "result"]
    assert [r["backend"] for r in results] == [0, 1] and all(r["status"] == "ok" for r in results)
    assert results[1]["values"]["threads"] == 1
    assert results[0]["values"]["integrity"] == "passed: outputs, budget"
    assert seen[1]["cost"]["compression_cached"] is False


def test_a_failed_compression_is_a_failed_result_for_every_backend_with_its_traceback(recorded):
    seen = recorded(job(["toy-explodes"], backends=(("torch-cpu", ()), ("torch-cpu", (("threads", 1),)))))
    assert [e["event"] for e in seen] == ["compressing", "result", "result"]
    assert all(e["status"] == "failed" and e["error"] == "compression failed: RuntimeError: boom from toy-explodes"
               and "Traceback" in e["traceback"] for e in seen[1:])


def test_a_method_that_refuses_the_model_is_skipped_without_a_traceback(recorded):
    seen = recorded(job(["toy-refuses"]))
    assert seen[-1]["status"] == "skipped" and seen[-1]["error"] == "toy-refuses handles no Sequential models"
    assert "traceback" not in seen[-1]


def test_the_closed_track_budget_is_an_integrity_failure_of_every_measurement(recorded):
    from benchsuite.execution.compression import budget_problem

    cell_job = job(["toy-greedy"])
    assert budget_problem(cell_job, {"finetune_steps": 501, "compress_seconds": 1.0}).startswith(
        "closed track allows 500 fine-tuning steps, the method took 501")
    assert budget_problem(cell_job, {"finetune_steps": 500, "compress_seconds": 1.0}) is None
    assert budget_problem(job(["toy-greedy"], track="open", finetune_budget_steps=10),
                          {"finetune_steps": 10_000, "compress_seconds": 1.0}) is None


def test_in_process_runs_the_cell_here_and_sets_each_task_up_once(toy_plugins, toy_cache, one_thread, monkeypatch):
    task_class = toy_plugins.tasks.get("toy-blobs")
    built = []
    original = task_class.reference_model
    monkeypatch.setattr(task_class, "reference_model", lambda self, cache: built.append(1) or original(self, cache))
    here = InProcess(toy_plugins)
    first = here.run(job(["toy-halve"]))
    second = here.run(job(["toy-explodes"]))
    assert [o.status for o in first] == ["ok"] and [o.status for o in second] == ["failed"]
    assert first[0].values["score"] > 0 and len(built) == 1


def test_in_process_reports_a_task_that_cannot_be_set_up_for_every_backend(toy_plugins, toy_cache):
    broken = CellJob(task="toy-broken", steps=(("baseline", ()),), seed=0,
                     backends=(("torch-cpu", ()), ("torch-cpu", (("threads", 1),))),
                     options=CellOptions(quick=True))
    outcomes = InProcess(toy_plugins).run(broken)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert outcomes[0].error.startswith("task toy-broken could not be set up:")


def test_a_job_crosses_the_process_boundary_unchanged():
    from benchsuite.measure.policy import TimingPolicy

    original = CellJob(task="t", steps=(("a", (("x", 1),)),), seed=3, backends=(("b", (("threads", 2),)),),
                       options=CellOptions(quick=True, timing=TimingPolicy(min_calls=7)), compress_threads=1,
                       plugins_dir="/p", plugin_environ=(("BENCHSUITE_PLUGINS_BLOCK", "x"),))
    assert CellJob.from_json(original.to_json()) == original


def test_every_measurement_is_timed_interleaved_with_the_baseline_in_seeded_shuffled_order(recorded):
    values = recorded(job(["toy-halve"]))[-1]["values"]
    assert values["speedup_rounds"] == len(values["speedup_round_ratios"]) >= 6
    assert values["speedup_b1_rounds"] == len(values["speedup_b1_round_ratios"]) >= 6
    assert values["speedup_stopped_by"] == "minimum" and values["timing_order_seed"] == 0  # quick: no target
    assert values["interleaved_baseline_p50_ms"] > 0 and values["latency_samples"] >= 5


def test_a_model_whose_outputs_depend_on_the_batch_is_also_scored_at_batch_1(recorded):
    plain = recorded(job(["toy-halve"]))[-1]["values"]
    assert plain["batch_dependent"] is False and plain["score_b1"] is None and plain["eval_batch_size"] == 16
    centred = recorded(job(["toy-batch-stats"]))[-1]["values"]
    assert centred["batch_dependent"] is True and centred["score_b1"] is not None
    assert centred["score_b1_ci_low"] <= centred["score_b1"] <= centred["score_b1_ci_high"]
    assert centred["score_b1"] != centred["score"]  # alone, a sample is shifted by its own mean: another score
    declared = recorded(job(["toy-declares-batch"]))[-1]["values"]  # declared, though its outputs do not change
    assert declared["batch_dependent"] is True and declared["score_b1"] == declared["score"]
