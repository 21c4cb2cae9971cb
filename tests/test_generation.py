"""Generative tasks timed as generation (measure/generation.py, execution/measuring.py): the KV-cache decode
loop, TTFT and TPOT per call, the bandwidth floor, and a whole run of a tiny generative task."""

import math

import pytest
import torch

from benchsuite.measure.generation import Generator, GenerationStats, memory_bandwidth, tpot_floor_ms
from conftest import HERE

LM_PLUGINS = HERE / "plugins" / "lm"


@pytest.fixture(scope="module")
def lm():
    import importlib.util

    spec = importlib.util.spec_from_file_location("toy_lm_for_tests", LM_PLUGINS / "toy_lm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decoding_with_the_kv_cache_gives_the_tokens_of_recomputing_the_whole_sequence(lm, one_thread):
    model = lm.tiny_llama()
    prompt = lm.windows(2, 3)[:, :8]
    with torch.inference_mode():
        cached = Generator(model, model.new_cache, new_tokens=6)(prompt)
        sequence = prompt
        for _ in range(6):  # no cache: the whole sequence again for every token
            sequence = torch.cat([sequence, model(sequence)[:, -1:].argmax(dim=-1)], dim=1)
    assert cached.shape == (2, 6)
    assert torch.equal(cached, sequence[:, 8:])


def test_a_generator_records_one_prefill_per_call(lm, one_thread):
    model = lm.tiny_llama()
    generate = Generator(model, model.new_cache, new_tokens=3)
    with torch.inference_mode():
        for _ in range(3):
            generate(lm.windows(1, 0)[:, :8])
    assert len(generate.prefill_ns) == 3 and all(ns > 0 for ns in generate.prefill_ns)


def test_ttft_is_the_prefill_and_tpot_the_rest_over_the_tokens_after_the_first():
    generator = Generator(lambda *a: None, lambda: None, new_tokens=5)
    generator.prefill_ns = [99_000_000, 10_000_000, 12_000_000, 14_000_000]  # the first: a warm-up call
    stats = GenerationStats.of(generator, [50.0, 52.0, 58.0], batch_size=4)
    assert stats.ttft_ms == pytest.approx(12.0)
    assert stats.tpot_ms == pytest.approx(10.0)  # per call (50-10)/4, (52-12)/4, (58-14)/4: median 10
    assert stats.tokens_per_s == pytest.approx(400.0)  # 4 sequences, one token each per 10 ms


def test_the_bandwidth_floor_is_the_time_to_read_the_weights_once():
    assert tpot_floor_ms(100_000_000, 50e9) == pytest.approx(2.0)


def test_the_memory_bandwidth_is_a_plausible_figure(one_thread):
    bandwidth = memory_bandwidth(size_bytes=32 << 20, repeats=2)
    assert 1e8 < bandwidth < 1e13


def test_a_generative_task_is_timed_as_generation_against_its_baseline(tmp_path, monkeypatch, one_thread):
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.options import RunOptions
    from benchsuite.results.store import ResultStore

    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    plugins = load_plugins(LM_PLUGINS, warn=lambda m: None,
                           environ={"BENCHSUITE_PLUGINS_BLOCK": "builtin.backends.torch-compile"})
    grid = build_grid(plugins, ["toy-lm"], ["dynamic-int8", "magnitude-pruning:sparsity=0.5"],
                      ["torch-cpu", "onnxruntime"])
    options = RunOptions(quick=True, isolate="none")
    rows = run_grid(plugins, grid, options, ResultStore(tmp_path / "store"), progress=False)
    by = {(r["method"], r["backend"]): r for r in rows}
    base = by[("baseline", "torch-cpu")]
    assert base["status"] == "ok", base["error"]
    assert base["metric"] == "perplexity" and base["higher_is_better"] is False
    assert 1.0 < base["score"] < 10 * 64 and base["score_ci_low"] <= base["score"] <= base["score_ci_high"]
    assert base["timing_kind"] == "generation" and (base["prompt_tokens"], base["new_tokens"]) == (8, 4)
    for row in (r for r in rows if r["backend"] == "torch-cpu"):
        assert row["status"] == "ok", row["error"]
        assert 0 < row["ttft_b1_ms"] < row["latency_b1_p50_ms"] and 0 < row["tpot_b1_ms"] < row["latency_b1_p50_ms"]
        assert row["tokens_per_s_b1"] == pytest.approx(1000 / row["tpot_b1_ms"])
        assert row["tokens_per_s"] == pytest.approx(2 * 1000 / row["tpot_ms"])
        assert row["memory_bandwidth_gbps"] > 0 and row["tpot_floor_b1_ms"] == pytest.approx(
            row["model_size_bytes"] / (row["memory_bandwidth_gbps"] * 1e9) * 1000)
        assert row["tpot_floor_fraction"] == pytest.approx(row["tpot_floor_b1_ms"] / row["tpot_b1_ms"])
        assert math.isfinite(row["realized_speedup"]) and row["speedup_rounds"] >= 6
    onnx = by[("baseline", "onnxruntime")]
    assert onnx["status"] == "skipped" and "cannot time generation" in onnx["error"]
    assert "KV-cache" in onnx["error"]


def test_torch_compile_generates_with_the_kv_cache_the_tokens_of_eager_decoding(lm, one_thread, tmp_path,
                                                                                 monkeypatch):
    """torch-compile times generation through the same two calls: the compiled model's prefill and cached decode
    steps give eager's tokens, and a second generation of the same shape compiles nothing new."""
    from torch._dynamo.utils import counters

    from benchsuite_plugins.backends.torch_compile import TorchCompile

    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    model = lm.tiny_llama()
    prompts = lm.windows(2, 3)[:, :8], lm.windows(2, 5)[:, :8]
    with torch.inference_mode():
        eager = [Generator(model, model.new_cache, new_tokens=4)(p) for p in prompts]
    fn = TorchCompile().prepare(model, (prompts[0],))
    generate = Generator(fn, model.new_cache, new_tokens=4)
    with torch.inference_mode():
        assert torch.equal(generate(prompts[0]), eager[0])
        graphs = counters["stats"]["unique_graphs"]
        assert torch.equal(generate(prompts[1]), eager[1])
    assert counters["stats"]["unique_graphs"] == graphs
