"""benchmarks/reproducibility.py: the between-runs term it estimates from separate runs, and the coverage it
reports for the stored (repeat-run), rounds-only and one-shot intervals, on simulated runs whose run effect is
known."""

import importlib.util
import statistics

import numpy as np
import pandas as pd

from benchsuite.results.rows import speedup_of_rounds
from conftest import HERE

_SPEC = importlib.util.spec_from_file_location("reproducibility", HERE.parent / "benchmarks" / "reproducibility.py")
reproducibility = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(reproducibility)


def simulated_runs(run_sd, configs=12, runs=3, rounds=16, round_sd=0.02, seed=0):
    """Rows as three stores would hold them: each configuration's true speedup, a run effect per (config, run)
    and noise per round; the stored interval as benchsuite computes it with a 2% between-runs term."""
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(runs):
        baseline_ms = rng.normal(20.0, 0.2, size=50)
        rows.append(dict(task="t", config="baseline", method="baseline", backend="torch-cpu", run=run, seed=0,
                         latency_p50_ms=float(np.median(baseline_ms)), latency_samples_ms=list(baseline_ms),
                         speedup_round_ratios=list(rng.normal(1.0, round_sd, size=rounds)),
                         realized_speedup=1.0, realized_speedup_ci_low=0.9, realized_speedup_ci_high=1.1,
                         speedup_stopped_by="precision", timing_background_cpu=0.0))
    for config in range(configs):
        true = 1.0 + config / 4
        for run in range(runs):
            ratios = true * np.exp(rng.normal(0.0, run_sd) + rng.normal(0.0, round_sd, size=rounds))
            speedup, (low, high) = speedup_of_rounds(ratios, 0.02)
            samples = list(rng.normal(20.0 / speedup, 0.2 / speedup, size=50))
            rows.append(dict(task="t", config=f"m{config}", method=f"m{config}", backend="torch-cpu", run=run,
                             seed=0, latency_p50_ms=statistics.median(samples), latency_samples_ms=samples,
                             speedup_round_ratios=list(ratios), realized_speedup=speedup,
                             realized_speedup_ci_low=low, realized_speedup_ci_high=high,
                             speedup_stopped_by="precision", timing_background_cpu=0.0))
    return pd.DataFrame(rows)


def test_the_between_runs_estimate_recovers_a_known_run_effect():
    estimate, pooled = reproducibility.between_runs_estimate(simulated_runs(run_sd=0.03))
    assert pooled == 12 and 0.02 < estimate < 0.04
    assert reproducibility.between_runs_estimate(simulated_runs(run_sd=0.0))[0] < 0.01


def test_the_report_shows_that_only_the_repeat_run_interval_covers_a_run_effect():
    table = reproducibility.compare(simulated_runs(run_sd=0.02, seed=1))
    assert len(table) == 12 and set(table["runs"]) == {3}
    share = {name: table[f"{name}_covered"].sum() / table[f"{name}_pairs"].sum()
             for name, *_ in reproducibility.VARIANTS}
    assert share["stored"] >= 0.9 > share["rounds_only"]
    summary = reproducibility.summary(table, reproducibility.between_runs_estimate(simulated_runs(run_sd=0.02)))
    assert "stored: " in summary and "between-runs sd on this machine" in summary
