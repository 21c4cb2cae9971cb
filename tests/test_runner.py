import json

import pytest

from benchsuite.errors import ParamError, UnknownNameError
from benchsuite.runner import RunOptions, build_grid, run_grid
from benchsuite.store import ResultStore, load_results

QUICK = RunOptions(quick=True)


def by_method(rows):
    return {(r["method"], r["params"]): r for r in rows}


def test_grid_puts_baseline_first_and_dedupes(toy_plugins):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-halve", "baseline", "toy-halve:factor=0.5"])
    assert [c.spec for c in grid.methods] == ["baseline", "toy-halve:factor=0.5"]
    assert [c.spec for c in grid.backends] == ["torch-cpu:threads=0"]


def test_standard_suite_uses_builtin_methods_only(toy_plugins):
    grid = build_grid(toy_plugins, ["toy-blobs"])
    assert [c.spec for c in grid.methods] == ["baseline", "dynamic-int8", "magnitude-pruning:sparsity=0.5,finetune_steps=100,lr=0.0"]


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
    assert base["method"] == "baseline" and base["speedup"] == pytest.approx(1.0)
    assert base["score"] > 0.9 and base["score_delta"] == 0
    for r in rows:
        assert r["baseline_score"] == base["score"] and r["run_id"] == base["run_id"]
        assert r["latency_p50_ms"] > 0 and r["latency_b1_p50_ms"] > 0 and r["throughput_sps"] > 0
        assert r["quick"] is True and r["threads"] >= 1 and r["cpu_model"] and r["torch_version"]
    pruned = by_method(rows)[("magnitude-pruning", json.dumps({"finetune_steps": 100, "lr": 0.0, "sparsity": 0.6},
                                                              sort_keys=True, separators=(",", ":")))]
    assert pruned["sparsity"] == pytest.approx(0.6 * (8 * 32 + 32 * 3) / (8 * 32 + 32 + 32 * 3 + 3), abs=0.003)
    int8 = next(r for r in rows if r["method"] == "dynamic-int8")
    assert int8["size_ratio"] > 0 and int8["flops"] == base["flops"]
    stored = load_results(tmp_path / "store")
    assert len(stored) == 4 and len(ResultStore(tmp_path / "store").files()) == 4  # one file per finished cell


def test_failures_and_unsupported_methods_become_rows_and_the_grid_goes_on(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["toy-explodes", "toy-nlp-only", "toy-wrong-type", "toy-halve",
                                                    "toy-greedy:steps=900"])
    rows = {r["method"]: r for r in run_grid(toy_plugins, grid, RunOptions(finetune_budget_steps=50,
                                                                          timing=QUICK.timing_policy), progress=False)}
    assert rows["toy-explodes"]["status"] == "failed"
    assert rows["toy-explodes"]["error"] == "compression failed: RuntimeError: boom from toy-explodes"
    assert rows["toy-nlp-only"]["status"] == "skipped" and "supports nlp tasks, not vision" in rows["toy-nlp-only"]["error"]
    assert rows["toy-wrong-type"]["status"] == "failed" and "not a torch.nn.Module" in rows["toy-wrong-type"]["error"]
    assert rows["toy-greedy"]["status"] == "failed" and "budget of 50" in rows["toy-greedy"]["error"]
    assert rows["toy-halve"]["status"] == "ok"


def test_compression_cost_is_counted_by_the_core(toy_plugins, toy_cache):
    grid = build_grid(toy_plugins, ["toy-blobs"], ["magnitude-pruning:sparsity=0.5,finetune_steps=7", "toy-greedy:steps=3"])
    rows = run_grid(toy_plugins, grid, RunOptions(timing=QUICK.timing_policy), progress=False)
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
    assert rows[0]["threads"] == 1 and json.loads(rows[0]["backend_params"]) == {"threads": 1}
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
