"""Both real tasks, end to end through the CLI, on their real reference models (built once per machine).

The quick standard suite runs every built-in method at its headline configuration on both tasks, so one CLI
run exercises every method end to end on its real model.
"""

import json

import pytest

from conftest import cli

pytestmark = pytest.mark.slow


def test_quick_standard_suite_runs_every_builtin_method_on_both_real_tasks(tmp_path):
    from benchsuite.measure.hardware import native_cpu_kernels
    from benchsuite.discovery.loader import load_plugins

    plugins = load_plugins()
    methods = {e.name for e in plugins.methods if plugins.infos[e.plugin].source == "builtin"}
    assert len(methods) == 14
    onnx_only = {e.name for e in plugins.methods if e.obj.backends == ("onnxruntime",)}
    assert onnx_only == {"ort-int8"}  # measured on onnxruntime by the next test
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--no-progress", "--no-cache", "--isolate", "none", "--backend", "torch-cpu", "--store", str(store))
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    assert len(rows) == 2 * len(methods) and all(r["quick"] for r in rows) and proc.returncode == 0
    # fp16, bf16 and int8 x int8 are skipped where this CPU has no native kernels for them (AVX2-only CI) ...
    native = native_cpu_kernels()
    refused = {e.name for e in plugins.methods if e.obj.kernels - native}
    skipped = {(r["task"], r["method"]) for r in rows if r["status"] == "skipped"}
    assert skipped == {(t, m) for t in ("mnist-cnn", "sentiment-minilm") for m in refused | onnx_only}
    assert all("--backend torch-cpu:emulated=true" in r["error"] for r in rows
               if r["status"] == "skipped" and r["method"] in refused)
    # ... and run, emulated, when asked, so that every method runs end to end on both real tasks
    if refused:
        args = [a for name in sorted(refused) for a in ("--method", name)]
        proc = cli("run", "--quick", "--no-progress", "--no-cache", "--isolate", "none", "--store", str(store), "--backend", "torch-cpu:emulated=true",
                   *args)
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    rows = [r for r in rows if r["status"] != "skipped"]
    bad = [(r["task"], r["config"], r["status"], r["error"]) for r in rows if r["status"] != "ok"]
    assert not bad, bad
    by = {(r["task"], r["method"]): r for r in rows}
    assert {m for _, m in by} == methods - onnx_only
    assert by[("mnist-cnn", "baseline")]["score"] >= 0.97
    assert by[("sentiment-minilm", "baseline")]["score"] >= 0.78  # 256-review quick subset
    for task in ("mnist-cnn", "sentiment-minilm"):
        base = by[(task, "baseline")]
        assert base["eval_samples"] == 256 and base["threads"] >= 1
        int8, pruned = by[(task, "dynamic-int8")], by[(task, "magnitude-pruning")]
        assert int8["model_size_bytes"] < base["model_size_bytes"]
        assert int8["realized_speedup"] > 0 and int8["flops"] == base["flops"]
        assert pruned["params_nonzero"] == pytest.approx(0.5 * pruned["params_total"], rel=0.02)
        assert by[(task, "early-exit")]["mean_exit_depth"] >= 1
        assert by[(task, "structured-pruning")]["flops"] < base["flops"]
        assert by[(task, "distillation")]["params_total"] < base["params_total"]
        assert by[(task, "low-rank")]["params_total"] < base["params_total"]
        assert by[(task, "int8-weight-only")]["model_size_bytes"] < base["model_size_bytes"]
        for half in ("fp16", "bf16"):
            assert by[(task, half)]["model_size_bytes"] < 0.6 * base["model_size_bytes"]


def test_compiling_backends_measure_real_models_and_refuse_what_they_cannot_run(tmp_path):
    """torch-compile and onnxruntime on both real tasks: the baseline and ort-int8 (onnxruntime only); on
    mnist-cnn also a torch.ao model the ONNX exporter cannot take and a PT2E int8 graph that inductor lowers to
    int8 kernels. (MiniLM's PT2E graph costs about two minutes to compile; `scripts/main` measures it.)"""
    store = tmp_path / "store"
    backends = ["--backend", "torch-compile", "--backend", "onnxruntime"]
    for task, methods in (("mnist-cnn", ["ort-int8", "dynamic-int8", "static-int8"]),
                          ("sentiment-minilm", ["ort-int8"])):
        proc = cli("run", "--quick", "--no-progress", "--no-cache", "--isolate", "none", "--store", str(store),
                   "--task", task, *backends, *[a for m in methods for a in ("--method", m)])
        assert proc.returncode == 0, proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    by = {(r["task"], r["method"], r["backend"]): r for r in rows}
    assert len(rows) == (4 + 2) * 2
    for task, floor in (("mnist-cnn", 0.97), ("sentiment-minilm", 0.78)):
        for backend in ("torch-compile", "onnxruntime"):
            base = by[(task, "baseline", backend)]
            assert base["status"] == "ok" and base["score"] >= floor and base["compile_seconds"] > 0
        ort = by[(task, "ort-int8", "onnxruntime")]
        assert ort["status"] == "ok" and ort["score"] >= by[(task, "baseline", "onnxruntime")]["score"] - 0.03
        assert ort["size_ratio"] < 0.7  # MatMul/Gemm weights in int8; the embeddings stay fp32 (MiniLM: 0.66)
        assert by[(task, "ort-int8", "torch-compile")]["status"] == "skipped"
    exported = by[("mnist-cnn", "dynamic-int8", "onnxruntime")]
    assert exported["status"] == "skipped" and "torch.onnx.export cannot export" in exported["error"]
    compiled = by[("mnist-cnn", "static-int8", "torch-compile")]
    assert compiled["status"] == "ok" and compiled["score"] >= 0.95


def test_real_models_run_in_worker_processes_with_their_limits_and_checks(tmp_path):
    """The default path of `benchsuite run`: each cell in a worker process, on a real task and two backends."""
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--no-progress", "--no-cache", "--store", str(store), "--task", "mnist-cnn", "--method",
               "dynamic-int8", "--backend", "torch-cpu", "--backend", "onnxruntime", "--time-limit", "900")
    assert proc.returncode == 0, proc.stderr
    rows = {(r["method"], r["backend"]): r
            for r in json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)}
    assert set(rows) == {(m, b) for m in ("baseline", "dynamic-int8") for b in ("torch-cpu", "onnxruntime")}
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert len(ok) == 3 and rows[("dynamic-int8", "onnxruntime")]["status"] == "skipped"  # the exporter refuses it
    for r in ok:
        assert r["integrity"] == "passed: outputs, budget" and len(r["artifact_sha256"]) == 64
        assert r["time_limit_seconds"] == 900 and r["memory_limit_bytes"] > 0 and r["score"] >= 0.97
