"""results/rows.py: every row is built in one place, from the schema's columns and their sources."""

import math

import pytest

from benchsuite.results.rows import Baseline, RowBuilder, latency_columns, relative_columns, valid
from benchsuite.results.schema import COL, COLUMNS, SCHEMA, SOURCES

from conftest import make_row

IDENTITY = {COL.run_id: "r1", COL.executor: "local", COL.timed: True, COL.quick: False, COL.seed: 0,
            COL.track: "closed", COL.finetune_budget_steps: 500, COL.finetune_budget_seconds: 900.0,
            COL.task: "toy", COL.task_version: "1", COL.modality: "vision", COL.metric: "accuracy",
            COL.higher_is_better: True, COL.config: "baseline", COL.method: "baseline", COL.method_family: "other",
            COL.method_version: "1", COL.params: "{}", COL.method_plugin: "builtin.methods.baseline",
            COL.method_dist: "benchsuite", COL.method_dist_version: "0.1.0"}
MACHINE = {COL.cpu_model: "cpu A", COL.cpu_cores: 2, COL.ram_bytes: 2**34, COL.os: "Linux", COL.gpu: "",
           COL.hardware_fingerprint: "abc", COL.python_version: "3.12", COL.torch_version: "2.13.0",
           COL.transformers_version: "5", COL.benchsuite_version: "0.1.0"}
MEASURED = {COL.score: 0.9, COL.latency_p50_ms: 10.0, COL.latency_b1_p50_ms: 2.0, COL.model_size_bytes: 1000,
            COL.flops: 200, COL.latency_samples_ms: [9.0, 10.0, 11.0], COL.latency_b1_samples_ms: [2.0, 2.0, 2.1],
            COL.device: "cpu", COL.threads: 2}


def builder():
    return RowBuilder(IDENTITY, MACHINE)


def test_every_column_has_a_known_source_and_col_names_every_column():
    assert {c.source for c in SCHEMA} <= set(SOURCES)
    assert [getattr(COL, name) for name in COLUMNS] == list(COLUMNS)
    with pytest.raises(AttributeError):
        COL.latency_p50  # a misspelt column fails at once


def test_a_built_row_has_exactly_the_schema_columns_and_takes_each_value_from_its_source():
    row = builder().row("torch-cpu", "{}", status="ok", measured=MEASURED,
                        cost={COL.compress_seconds: 1.5, COL.finetune_steps: 3},
                        limits={COL.time_limit_seconds: 60.0, COL.memory_limit_bytes: 2**30})
    assert set(row) == set(COLUMNS) - {COL.schema_version}
    assert (row[COL.task], row[COL.cpu_model], row[COL.backend], row[COL.compress_seconds]) == (
        "toy", "cpu A", "torch-cpu", 1.5)
    assert (row[COL.score], row[COL.time_limit_seconds], row[COL.status], row[COL.error]) == (0.9, 60.0, "ok", "")
    assert row[COL.created_at].tzinfo is not None


def test_a_value_for_a_column_of_another_source_is_refused_by_name():
    with pytest.raises(ValueError, match=r"cost values .*\['score'\]"):
        builder().row("torch-cpu", "{}", status="ok", measured=MEASURED, cost={COL.score: 1.0})
    with pytest.raises(ValueError, match=r"measured values .*\['not_a_column'\]"):
        builder().row("torch-cpu", "{}", status="ok", measured={**MEASURED, "not_a_column": 1})


def test_the_machine_that_ran_the_cell_replaces_the_builders():
    dask_worker = {**MACHINE, COL.cpu_model: "cpu B", COL.hardware_fingerprint: "def"}
    row = builder().row("torch-cpu", "{}", status="ok", measured=MEASURED, machine=dask_worker)
    assert (row[COL.cpu_model], row[COL.hardware_fingerprint]) == ("cpu B", "def")


def test_an_ok_row_gets_the_columns_relative_to_its_baseline():
    baseline = Baseline(score=0.95, latency_p50_ms=20.0, latency_b1_p50_ms=4.0, model_size_bytes=4000, flops=800,
                        latency_samples_ms=(19.0, 20.0, 21.0), latency_b1_samples_ms=(4.0, 4.0, 4.1))
    row = builder().row("torch-cpu", "{}", status="ok", measured=MEASURED, baseline=baseline)
    assert row[COL.realized_speedup] == pytest.approx(2.0)
    assert row[COL.score_delta] == pytest.approx(-0.05)
    assert (row[COL.size_ratio], row[COL.flops_ratio], row[COL.theoretical_speedup]) == (0.25, 0.25, 4.0)
    assert row[COL.speedup_efficiency] == pytest.approx(0.5)
    assert row[COL.realized_speedup_ci_low] <= 2.0 <= row[COL.realized_speedup_ci_high]
    skipped = builder().row("torch-cpu", "{}", status="skipped", error="no", baseline=baseline, device="cpu")
    assert skipped[COL.realized_speedup] is None and skipped[COL.device] == "cpu"


def test_a_row_timed_interleaved_takes_its_speedup_from_its_rounds_not_from_the_baseline_row():
    rounds = [2.9, 3.0, 3.1, 3.0, 2.95, 3.05, 3.0, 3.02]
    measured = {**MEASURED, COL.speedup_round_ratios: rounds, COL.speedup_b1_round_ratios: [1.0] * 8,
                COL.speedup_between_runs_sd: 0.02}
    baseline = Baseline(score=0.95, latency_p50_ms=20.0, latency_b1_p50_ms=4.0, model_size_bytes=4000, flops=800)
    method = RowBuilder({**IDENTITY, COL.method: "toy-halve", COL.config: "toy-halve"}, MACHINE)
    row = method.row("torch-cpu", "{}", status="ok", measured=measured, baseline=baseline)
    assert row[COL.realized_speedup] == pytest.approx(3.0) and row[COL.speedup_method] == "interleaved"
    # where a repeat run would measure it: the rounds' interval (8 rounds: the lowest and the highest, 2.9 and
    # 3.1) and the 2% between-runs term, each counted for both runs, on a log scale
    low, high = (3.0 * math.exp(sign * math.sqrt(2) * math.hypot(math.log(side), 1.959964 * 0.02))
                 for sign, side in ((-1, 3.0 / 2.9), (1, 3.1 / 3.0)))
    assert (row[COL.realized_speedup_ci_low], row[COL.realized_speedup_ci_high]) == (
        pytest.approx(low), pytest.approx(high))
    assert row[COL.realized_speedup_ci_low] < 2.9 and row[COL.realized_speedup_ci_high] > 3.1
    assert row[COL.realized_speedup_b1] == 1.0
    apart = method.row("torch-cpu", "{}", status="ok", measured=MEASURED, baseline=baseline)
    assert apart[COL.speedup_method] == "separate sessions" and apart[COL.realized_speedup] == pytest.approx(2.0)
    itself = builder().row("torch-cpu", "{}", status="ok", measured=measured, baseline=baseline)
    assert itself[COL.realized_speedup] == 1.0  # the baseline: its interval is the noise of its rounds
    assert itself[COL.realized_speedup_ci_low] == pytest.approx(low)
    older = method.row("torch-cpu", "{}", status="ok", baseline=baseline,
                       measured={**measured, COL.speedup_between_runs_sd: None})
    assert older[COL.realized_speedup_ci_low] == pytest.approx(3.0 * (2.9 / 3.0) ** math.sqrt(2))  # no term


def test_the_relative_columns_are_none_without_a_baseline_measurement():
    relative = relative_columns(MEASURED, Baseline(), seed=0)
    assert relative[COL.realized_speedup] is None and relative[COL.score_delta] is None


def test_a_row_that_breaks_the_store_rules_becomes_a_failed_row_naming_the_rule():
    row = builder().row("torch-cpu", "{}", status="ok", measured={**MEASURED, COL.score: math.nan,
                                                                   COL.latency_p50_ms: math.inf})
    assert row[COL.status] == "failed" and row[COL.error].startswith("invalid result: score is NaN")
    assert row[COL.error].endswith("(and 1 more)")
    assert row[COL.score] is None and row[COL.latency_p50_ms] is None
    good = make_row()
    assert valid(good) is good  # a row that keeps the rules is returned as it is


def test_the_key_of_a_row_matches_the_key_of_the_row_it_builds():
    from benchsuite.results.keys import run_key

    row = builder().row("torch-cpu", '{"threads": 2}', status="skipped", error="x")
    assert builder().key("torch-cpu", '{"threads": 2}') == run_key(row)
    assert builder().key("torch-cpu", "{}") != run_key(row)


def test_latency_columns_name_each_statistic_under_its_prefix():
    from benchsuite.measure.timing import LatencyStats

    stats = LatencyStats(p50_ms=2.0, p90_ms=3.0, p99_ms=4.0, mean_ms=2.2, std_ms=0.1, samples=3, warmup_calls=5,
                         samples_ms=(1.9, 2.0, 2.1))
    columns = latency_columns("latency_b1", stats)
    assert set(columns) <= set(COLUMNS) and columns[COL.latency_b1_p50_ms] == 2.0
    assert columns[COL.latency_b1_samples_ms] == [1.9, 2.0, 2.1]
