"""The leaderboard on a generative task: perplexity is lower-is-better, recovery against the baseline, TTFT,
TPOT, tokens/s and the bandwidth floor in the table, and the trade-off chart against tokens/s (AppTest)."""

from datetime import datetime, timezone

import pytest
from streamlit.testing.v1 import AppTest

from benchsuite.results.frames import to_frame
from benchsuite.results.store import ResultStore
from benchsuite_leaderboard import data, pareto

from conftest import REPO, make_row

APP = str(REPO / "leaderboard" / "app.py")
MACHINE = dict(hardware_fingerprint="aaaa1111", cpu_model="EPYC", cpu_cores=2, gpu="")


def lm_row(method, score, tpot_b1_ms, **overrides):
    base = dict(task="smollm2-text", task_version="1", metric="perplexity", higher_is_better=False,
                created_at=datetime(2026, 12, 7, tzinfo=timezone.utc), method=method, score=score,
                score_ci_low=score * 0.98, score_ci_high=score * 1.02, baseline_score=12.0, batch_size=4,
                eval_samples=64, track="closed", timing_kind="generation", prompt_tokens=128, new_tokens=32,
                latency_p50_ms=31 * tpot_b1_ms * 1.2, latency_b1_p50_ms=31 * tpot_b1_ms + 80, ttft_b1_ms=80.0,
                tpot_b1_ms=tpot_b1_ms, tokens_per_s_b1=1000 / tpot_b1_ms, tokens_per_s=4000 / (tpot_b1_ms * 1.2),
                tpot_ms=tpot_b1_ms * 1.2, memory_bandwidth_gbps=50.0, model_size_bytes=540_000_000,
                tpot_floor_b1_ms=10.8, tpot_floor_fraction=10.8 / tpot_b1_ms, **MACHINE)
    return make_row(**{**base, **overrides})


def lm_rows():
    return [lm_row("baseline", 12.0, 40.0, realized_speedup=1.0, realized_speedup_ci_low=0.94,
                   realized_speedup_ci_high=1.06, speedup_rounds=8, realized_speedup_b1=1.0,
                   realized_speedup_b1_ci_low=0.94, realized_speedup_b1_ci_high=1.06),
            lm_row("dynamic-int8", 12.6, 11.5, model_size_bytes=180_000_000, method_family="quantization",
                   realized_speedup=3.5, realized_speedup_ci_low=3.3, realized_speedup_ci_high=3.7, speedup_rounds=8,
                   realized_speedup_b1=3.5, realized_speedup_b1_ci_low=3.3, realized_speedup_b1_ci_high=3.7),
            lm_row("magnitude-pruning", 30.0, 40.0, method_family="pruning", realized_speedup=1.0,
                   realized_speedup_ci_low=0.94, realized_speedup_ci_high=1.06, speedup_rounds=8,
                   realized_speedup_b1=1.0, realized_speedup_b1_ci_low=0.94, realized_speedup_b1_ci_high=1.06)]


def test_a_generative_task_table_shows_generation_speed_and_recovery_with_lower_better_perplexity():
    frame = data.prepare(to_frame(lm_rows()))
    table = data.table(data.select(frame, data.Filters("smollm2-text")))
    for header in ("score ↓", "recovery vs baseline ↑", "TTFT batch 1 ms ↓", "TPOT batch 1 ms ↓",
                   "tokens/s batch 1 ↑", "tokens/s at batch size ↑", "share of bandwidth limit ↑",
                   "p50 generation ms ↓", "peak memory MB ↓"):
        assert header in table.columns, header
    by = table.set_index("method")
    assert by.at["baseline", "recovery vs baseline ↑"] == pytest.approx(1.0)
    assert by.at["magnitude-pruning", "recovery vs baseline ↑"] == pytest.approx(12.0 / 30.0)  # perplexity: base/score
    assert by.at["dynamic-int8", "tokens/s batch 1 ↑"] == pytest.approx(1000 / 11.5)
    assert list(table["method"])[0] in ("baseline", "dynamic-int8")  # frontier first; pruning is dominated
    assert by.at["magnitude-pruning", "Pareto rank ↓"] == 2
    caption = data.task_caption(frame, "smollm2-text")
    assert "perplexity (lower is better)" in caption and "128-token prompt, then 32 greedy tokens" in caption


def test_a_classification_table_keeps_its_columns():
    frame = data.prepare(to_frame([lm_row("baseline", 0.9, 10.0, task="t", metric="accuracy",
                                          higher_is_better=True, timing_kind="forward")]))
    table = data.table(data.select(frame, data.Filters("t")))
    assert "TTFT batch 1 ms ↓" not in table.columns and "p50 latency ms ↓" in table.columns


def test_tpot_intervals_take_the_relative_width_of_the_batch_1_speedup():
    frame = to_frame(lm_rows())
    low, high = pareto.latency_interval(frame, "tpot_b1_ms")
    assert low[1] == pytest.approx(11.5 * 3.5 / 3.7) and high[1] == pytest.approx(11.5 * 3.5 / 3.3)


def test_the_trade_off_page_plots_perplexity_against_tokens_per_second(tmp_path, monkeypatch):
    ResultStore(tmp_path).append(lm_rows())
    monkeypatch.setenv("BENCHSUITE_STORE", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.sidebar.radio(key="page").set_value("Trade-offs").run()
    assert not app.exception
    specs = [str(chart.proto.spec) for chart in app.get("vega_lite_chart")]
    assert len(specs) == 2
    assert "tokens_per_s_b1" in specs[0] and "perplexity (lower is better)" in specs[0] and "size_mb" in specs[1]
