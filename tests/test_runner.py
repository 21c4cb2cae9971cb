import json
from pathlib import Path

import pytest
import torch

from benchsuite.errors import ParamError, UnknownNameError, UsageError
from benchsuite.grid.options import RunOptions
from benchsuite.grid.planning import build_grid
from benchsuite.grid.orchestration import run_grid
from benchsuite.results.store import ResultStore, load_results

QUICK = RunOptions(quick=True, isolate="none")


def test_grid_puts_baseline_first_and_dedupes(toy_plugins):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve", "baseline", "toy-halve:factor=0.5"])
    assert [c.spec for c in grid.methods] == ["baseline", "toy-halve:factor=0.5"]
    assert [c.spec for c in grid.backends] == ["torch-cpu:threads=0,emulated=false"]


def test_standard_suite_uses_builtin_methods_only(toy_plugins):
    grid = build_grid(toy_plugins, ["toy-blobs"])
    builtin = [e for e in toy_plugins.methods if toy_plugins.infos[e.plugin].source == "builtin"]
    expected = ["baseline"] + [e.name for e in builtin if e.name != "baseline" and e.obj.standard_suite
                               for _ in e.obj.standard_configs]
    assert [p.steps[0].name for p in grid.methods] == expected
    assert "magnitude-pruning:sparsity=0.5,scope=global,schedule=oneshot" in [p.spec[:60] for p in grid.methods]


def test_bad_selection_fails_before_running(toy_plugins):
    with pytest.raises(UnknownNameError, match="Did you mean 'toy-halve'"):
        build_grid(toy_plugins, ["toy-blobs"], ["toy-halv"])
    with pytest.raises(ParamError, match="'toy-halve': parameter 'factor' got 2.0"):
        build_grid(toy_plugins, ["toy-blobs"], ["toy-halve:factor=2"])
    with pytest.raises(UnknownNameError, match="Unknown task 'mnist'"):
        build_grid(toy_plugins, ["mnist"])
    with pytest.raises(UnknownNameError, match="Unknown backend"):
        build_grid(toy_plugins, ["toy-blobs"], [], ["torch-gpu"])


def test_run_records_one_row_per_cell_with_same_run_baseline(toy_plugins, toy_cache, tmp_path):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve:factor=0.5", "dynamic-int8", "magnitude-pruning:sparsity=0.6"])
    store = ResultStore(tmp_path / "store")
    rows = run_grid(toy_plugins, grid, QUICK, store, progress=False)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    base = rows[0]
    assert base["method"] == "baseline" and base["realized_speedup"] == 1.0 and base["speedup_method"] == "interleaved"
    assert base["realized_speedup_ci_low"] < base["realized_speedup_ci_high"]  # its rounds: the noise floor
    assert base["score"] > 0.9 and base["score_delta"] == 0
    for r in rows:
        assert r["baseline_score"] == base["score"] and r["run_id"] == base["run_id"]
        assert r["latency_p50_ms"] > 0 and r["latency_b1_p50_ms"] > 0 and r["throughput_sps"] > 0
        # threads=0 keeps torch's default: the cells ran here (--isolate none), so this process's thread count
        assert r["quick"] is True and r["threads"] == torch.get_num_threads() and r["cpu_model"] and r["torch_version"]
        assert r["allocator"].startswith("glibc warm heap")  # timed with large blocks from a warm heap
    pruned = next(r for r in rows if r["method"] == "magnitude-pruning")
    assert json.loads(pruned["params"])["sparsity"] == 0.6
    # the output layer (32 x 3) stays dense, so 60 % of the hidden layer's weights go
    assert pruned["sparsity"] == pytest.approx(0.6 * (8 * 32) / (8 * 32 + 32 + 32 * 3 + 3), abs=0.003)
    int8 = next(r for r in rows if r["method"] == "dynamic-int8")
    assert int8["size_ratio"] > 0 and int8["flops"] == base["flops"]
    # intervals, FLOPs ratios, provenance
    for r in rows:
        assert r["score_ci_low"] <= r["score"] <= r["score_ci_high"]
        assert r["latency_p50_ci_low_ms"] <= r["latency_p50_ms"] <= r["latency_p50_ci_high_ms"]
        assert r["realized_speedup_ci_low"] <= r["realized_speedup"] <= r["realized_speedup_ci_high"]
        assert len(r["latency_samples_ms"]) == r["latency_samples"] and r["latency_warmup_calls"] >= 2
        # eager torch-cpu compiles nothing: its compile_seconds is the first call of a 3-layer MLP, timed but
        # far from the seconds a compiling backend takes (those are compared in test_backends.py)
        assert 0 < r["compile_seconds"] < 5 and len(r["hardware_fingerprint"]) == 12
        assert r["baseline_flops"] == base["flops"] and r["theoretical_speedup"] == pytest.approx(1 / r["flops_ratio"])
        assert r["speedup_efficiency"] == pytest.approx(r["realized_speedup"] / r["theoretical_speedup"])
    assert sorted(base["latency_samples_ms"])[len(base["latency_samples_ms"]) // 2] > 0
    stored = load_results(tmp_path / "store")
    assert len(stored) == 4 and len(ResultStore(tmp_path / "store").files()) == 4  # one file per finished cell


def test_failures_and_unsupported_methods_become_rows_and_the_grid_goes_on(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-explodes", "toy-nlp-only", "toy-wrong-type", "toy-halve",
                                                    "toy-greedy:steps=900"])
    rows = {r["method"]: r for r in run_grid(toy_plugins, grid, RunOptions(isolate="none", track="open", finetune_budget_steps=50,
                                                                          timing=QUICK.timing_policy), progress=False)}
    assert rows["toy-explodes"]["status"] == "failed"
    assert rows["toy-explodes"]["error"] == "compression failed: RuntimeError: boom from toy-explodes"
    assert rows["toy-nlp-only"]["status"] == "skipped" and "supports nlp tasks, not vision" in rows["toy-nlp-only"]["error"]
    assert rows["toy-wrong-type"]["status"] == "failed" and "not a torch.nn.Module" in rows["toy-wrong-type"]["error"]
    assert rows["toy-greedy"]["status"] == "failed" and "budget of 50" in rows["toy-greedy"]["error"]
    assert rows["toy-halve"]["status"] == "ok"
    assert rows["toy-halve"]["track"] == "open" and rows["toy-halve"]["finetune_budget_steps"] == 50


def test_compression_cost_is_counted_by_the_core(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["magnitude-pruning:sparsity=0.5,finetune_steps=7", "toy-greedy:steps=3"])
    rows = run_grid(toy_plugins, grid, RunOptions(isolate="none", timing=QUICK.timing_policy), progress=False)
    pruned, greedy = rows[1], rows[2]
    assert pruned["finetune_steps"] == 7 and pruned["compress_seconds"] > 0
    assert greedy["finetune_steps"] == 3 and greedy["finetune_budget_steps"] == 500
    quick = run_grid(toy_plugins, grid, QUICK, progress=False)
    assert quick[1]["finetune_steps"] == 2  # --quick caps each request


def test_threads_are_set_and_recorded(toy_plugins, toy_cache):
    import torch

    before = torch.get_num_threads()
    grid = build_grid(toy_plugins, ["toy-blobs"], [], ["torch-cpu:threads=1"])
    grid = type(grid)(grid.tasks, grid.methods[:1], grid.backends)
    rows = run_grid(toy_plugins, grid, QUICK, progress=False)
    assert rows[0]["threads"] == 1 and json.loads(rows[0]["backend_params"]) == {"threads": 1, "emulated": False}
    assert torch.get_num_threads() == before


def test_a_task_that_cannot_be_set_up_fails_its_rows_and_the_grid_goes_on(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-broken", "toy-blobs"], ["toy-halve"])
    rows = run_grid(toy_plugins, grid, QUICK, progress=False)
    assert [(r["task"], r["status"]) for r in rows] == [("toy-broken", "failed")] * 2 + [("toy-blobs", "ok")] * 2
    assert rows[0]["error"] == ("task toy-broken could not be set up: "
                                "FileNotFoundError: weights.safetensors not found")


def test_an_unavailable_backend_gives_skipped_rows_with_the_reason(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve"], ["torch-cpu", "toy-unavailable"])
    rows = run_grid(toy_plugins, grid, QUICK, progress=False)
    assert [(r["backend"], r["status"]) for r in rows] == [("torch-cpu", "ok"), ("toy-unavailable", "skipped")] * 2
    assert rows[1]["error"] == "backend toy-unavailable unavailable: no NPU on this machine"


def test_a_method_that_raises_unsupported_gives_skipped_rows(toy_plugins, toy_cache):
    rows = run_grid(toy_plugins, build_grid(toy_plugins, ["toy-blobs"], ["toy-refuses"]), QUICK, progress=False)
    assert rows[1]["status"] == "skipped" and rows[1]["error"] == "toy-refuses handles no Sequential models"


def test_pipelines_apply_steps_in_order_and_record_each_step(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["magnitude-pruning:sparsity=0.5,finetune_steps=3 > dynamic-int8"])
    spec = grid.methods[1].spec
    assert spec.startswith("magnitude-pruning:sparsity=0.5,") and spec.endswith(",finetune_steps=3,lr=0.0,prune_output=false > dynamic-int8")
    row = run_grid(toy_plugins, grid, RunOptions(isolate="none", timing=QUICK.timing_policy), progress=False)[1]
    assert row["status"] == "ok"
    assert row["method"] == "magnitude-pruning > dynamic-int8"
    assert row["method_family"] == "pruning > quantization"
    steps = json.loads(row["params"])
    assert len(steps) == 2 and steps[0]["finetune_steps"] == 3 and steps[0]["sparsity"] == 0.5 and steps[1] == {}
    assert row["config"] == grid.methods[1].spec
    assert row["finetune_steps"] == 3 and row["sparsity"] > 0.3  # pruned, then quantized (zeros survive int8)


def test_suite_full_adds_each_methods_sweep(toy_plugins):
    standard = build_grid(toy_plugins, ["toy-blobs"])
    full = build_grid(toy_plugins, ["toy-blobs"], suite="full")
    assert set(p.spec for p in standard.methods) <= set(p.spec for p in full.methods)
    for entry in toy_plugins.methods:
        if toy_plugins.infos[entry.plugin].source == "builtin":
            assert sum(p.steps[0].name == entry.name for p in full.methods) == max(
                1, len(entry.obj.standard_configs) + len(entry.obj.sweep_configs))


def test_wall_clock_budget_stops_finetuning_and_is_recorded(toy_plugins, toy_cache):
    options = RunOptions(isolate="none", track="open", finetune_budget_seconds=0.3, timing=QUICK.timing_policy)
    row = run_grid(toy_plugins, build_grid(toy_plugins, ["toy-blobs"], ["toy-slow:steps=100"]), options,
                   progress=False)[1]
    assert row["status"] == "ok" and row["finetune_stopped_by_time"] is True
    assert 1 <= row["finetune_steps"] < 20 and row["finetune_budget_seconds"] == 0.3


def test_closed_track_refuses_another_budget():
    from benchsuite.errors import UsageError

    with pytest.raises(UsageError, match="closed track uses the shared budget"):
        RunOptions(finetune_budget_steps=10)


def test_metrics_reported_by_the_model_are_recorded(toy_plugins, toy_cache):
    row = run_grid(toy_plugins, build_grid(toy_plugins, ["toy-blobs"], ["toy-metrics"]), QUICK, progress=False)[1]
    assert row["mean_exit_depth"] == 1.5
    assert json.loads(row["model_metrics"]) == {"mean_exit_depth": 1.5, "samples_seen": 200.0}


def test_latency_cycles_through_real_inputs(toy_plugins):
    from benchsuite.measure.policy import TimingPolicy
    from benchsuite.measure.timing import time_latency

    seen = []
    task = toy_plugins.tasks.get("toy-blobs")()
    inputs = task.latency_inputs(16)
    assert len(inputs) == 8 and all(x[0].shape == (16, 8) for x in inputs)
    assert len(task.latency_inputs(1)) == 64
    time_latency(lambda x: seen.append(x) or x, inputs, TimingPolicy(0, 0.0, 16, 0.0, 5))
    assert [id(x) for x in seen[:16]] == [id(x[0]) for x in inputs] * 2


@pytest.mark.parametrize("native", [frozenset(), frozenset({"fp16", "bf16", "int8-matmul"})])
def test_a_backend_without_native_kernels_skips_before_compressing(toy_plugins, toy_cache, monkeypatch, native):
    import benchsuite_plugins.backends.torch_cpu as torch_cpu

    monkeypatch.setattr(torch_cpu, "native_cpu_kernels", lambda: native)
    grid = build_grid(toy_plugins, ["toy-blobs"], ["fp16", "magnitude-pruning:finetune_steps=0 > int8-dynamic-activation"])
    rows = run_grid(toy_plugins, grid, QUICK, progress=False)
    statuses = [r["status"] for r in rows]
    if native:
        assert statuses == ["ok"] * 3
        return
    assert statuses == ["ok", "skipped", "skipped"]
    assert rows[1]["error"] == (
        "backend torch-cpu: this CPU has no native IEEE half-precision arithmetic (needs one of avx512_fp16, "
        "amx_fp16), so PyTorch would emulate it, far slower than fp32; to measure it anyway use "
        "--backend torch-cpu:emulated=true")
    assert "no native int8 x int8 matrix multiplication" in rows[2]["error"]
    assert rows[1]["compress_seconds"] is None  # refused before compressing


def test_an_emulating_backend_runs_what_others_refuse(toy_plugins, toy_cache, monkeypatch):
    import benchsuite_plugins.backends.torch_cpu as torch_cpu

    monkeypatch.setattr(torch_cpu, "native_cpu_kernels", lambda: frozenset())
    grid = build_grid(toy_plugins, ["toy-blobs"], ["bf16"], ["torch-cpu", "torch-cpu:emulated=true"])
    rows = run_grid(toy_plugins, grid, QUICK, progress=False)
    assert [(json.loads(r["backend_params"])["emulated"], r["status"]) for r in rows][2:] == [
        (False, "skipped"), (True, "ok")]
    # emulated bf16 stores a smaller model and, on this easy task, scores what fp32 does on the same backend
    assert rows[3]["model_size_bytes"] < rows[1]["model_size_bytes"]
    assert rows[3]["score"] == pytest.approx(rows[1]["score"], abs=0.02)


def test_a_method_declaring_an_unknown_kernel_is_refused_at_registration():
    from benchsuite import CompressionMethod
    from benchsuite.errors import PluginError
    from benchsuite.discovery.loader import _check

    class Fp8(CompressionMethod):
        name = "fp8"
        kernels = frozenset({"fp8"})

        def apply(self, model, context):
            return model

    with pytest.raises(PluginError, match=r"method 'fp8' declares unknown kernels \['fp8'\]; use names from fp16"):
        _check("method", Fp8)


def test_seeds_repeat_only_methods_with_randomness(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve", "dynamic-int8"])
    options = RunOptions(quick=True, isolate="none", seeds=(3, 4, 5))
    rows = run_grid(toy_plugins, grid, options, progress=False)
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("baseline", 3), ("toy-halve", 3), ("toy-halve", 4), ("toy-halve", 5), ("dynamic-int8", 3)]
    with pytest.raises(UsageError, match="distinct integers"):
        RunOptions(seeds=(1, 1))


def test_store_of_schema_2_reads_as_the_current_schema(tmp_path):
    import pandas as pd

    from benchsuite.measure.hardware import hardware_fingerprint
    from benchsuite.results.schema import COLUMNS, SCHEMA_VERSION

    # two rows a schema-2 benchsuite wrote (the standard suite of 2026-11-21)
    frame = pd.read_parquet(Path(__file__).parent / "fixtures" / "results-schema2.parquet")
    (tmp_path / "s").mkdir()
    frame.to_parquet(tmp_path / "s" / "results-old.parquet")
    out = load_results(tmp_path / "s")
    assert list(out.columns) == list(COLUMNS) and (out["schema_version"] == SCHEMA_VERSION).all()
    assert out["realized_speedup"].tolist() == frame["speedup"].tolist() and (out["extra_scores"] == "").all()
    first = frame.iloc[0]
    assert out["hardware_fingerprint"].iloc[0] == hardware_fingerprint(
        first["cpu_model"], first["cpu_cores"], first["ram_bytes"], first["gpu"], first["os"])
