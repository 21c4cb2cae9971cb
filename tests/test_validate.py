"""The harness checks behind `benchsuite validate` (their figures are measured by the command, not asserted)."""

import statistics
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch import nn

from benchsuite.measure.policy import TimingPolicy
from benchsuite.measure.harness import Agreement, harness_overhead, repeatability, timer_agreement
from conftest import GOOD, cli

POLICY = TimingPolicy.quick()


def test_agreement_compares_the_same_call_under_both_timers():
    model = nn.Linear(64, 64).eval()
    agreement = timer_agreement("linear", model, (torch.randn(8, 64),), POLICY, min_run_time=0.05, rounds=3)
    assert len(agreement.benchsuite_p50_ms) == len(agreement.timer_median_ms) == 3
    assert min(agreement.benchsuite_p50_ms) > 0 and min(agreement.timer_median_ms) > 0
    assert agreement.threads == torch.get_num_threads()
    assert Agreement("x", (1.04,), (1.0,), 1).agrees and not Agreement("x", (1.06,), (1.0,), 1).agrees
    assert Agreement("x", (0.96,), (1.0,), 1).difference < 0


def test_agreement_is_the_median_of_paired_rounds_so_drift_between_rounds_cancels():
    # the machine slows down by 30% after the first round: each round's pair still agrees
    drifting = Agreement("x", (10.0, 13.0, 13.1), (10.1, 12.9, 13.0), 1)
    assert drifting.agrees and abs(drifting.difference) < 0.01
    # one disturbed round of three does not decide the outcome; two do
    assert Agreement("x", (10.0, 20.0, 10.0), (10.0, 10.0, 10.0), 1).agrees
    assert not Agreement("x", (10.0, 20.0, 20.0), (10.0, 10.0, 10.0), 1).agrees


def test_overhead_is_timed_on_a_call_that_does_nothing():
    stats = harness_overhead(TimingPolicy(warmup_calls=5, warmup_seconds=0, max_warmup_seconds=0, min_calls=500,
                                          min_seconds=0))
    assert stats.samples == 500 and 0 < stats.p50_ms


def test_repeatability_gives_one_p50_per_repeat_and_their_cv():
    p50s, cv = repeatability(nn.Linear(16, 16).eval(), [(torch.randn(4, 16),)], POLICY, repeats=3)
    assert len(p50s) == 3 and min(p50s) > 0
    assert cv == pytest.approx(statistics.stdev(p50s) / statistics.mean(p50s))  # the sample CV of those p50s


def test_repeatability_times_each_repeat_afresh(monkeypatch):
    import benchsuite.measure.harness as harness

    model, inputs, timed = nn.Linear(4, 4).eval(), [(torch.randn(2, 4),)], []

    def fake_time_latency(fn, batches, policy):
        timed.append((fn, batches, policy))
        return SimpleNamespace(p50_ms=float(len(timed)))  # 1, 2, 3 ms

    monkeypatch.setattr(harness, "time_latency", fake_time_latency)
    p50s, cv = repeatability(model, inputs, POLICY, repeats=3)
    assert p50s == [1.0, 2.0, 3.0] and cv == pytest.approx(0.5)  # sample standard deviation 1 / mean 2
    assert [(fn, batches, policy) for fn, batches, policy in timed] == [(model, inputs, POLICY)] * 3


@pytest.mark.parametrize("agrees, code, message", [
    ([True, True], 0, ""),
    ([True, False], 1, "benchsuite: 1 timing(s) disagree with torch.utils.benchmark by more than 5%"),
    ([False, False], 1, "benchsuite: 2 timing(s) disagree with torch.utils.benchmark by more than 5%"),
])
def test_validate_exits_1_exactly_when_a_timing_disagrees(monkeypatch, capsys, agrees, code, message):
    import benchsuite.measure.harness as harness
    from benchsuite.cli import main

    table = pd.DataFrame({"task": ["toy-blobs"] * len(agrees), "batch": [16, 1], "agrees": agrees})
    monkeypatch.setattr(harness, "check_tasks", lambda *args, **kwargs: table)
    assert main(["validate", "--plugins-dir", str(GOOD), "--task", "toy-blobs"]) == code
    assert capsys.readouterr().err.strip() == message


def test_validate_command_prints_every_figure(tmp_path):
    env = {"BENCHSUITE_CACHE": str(tmp_path / "cache")}
    proc = cli("validate", "--quick", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--repeats", "2",
               "--rounds", "2", "--threads", "1", env=env)
    # quick timings of a tiny model may disagree with Timer beyond 5% (the exit code is then 1): the code and the
    # closing line must match the table's `agrees` column, whichever way it went
    rows = [r for r in map(str.split, proc.stdout.splitlines()) if r[:1] == ["toy-blobs"] and r[1].isdigit()]
    disagreeing = sum(row[6] == "False" for row in rows)
    assert len(rows) == 2 and {row[6] for row in rows} <= {"True", "False"}, proc.stdout
    assert proc.returncode == (1 if disagreeing else 0), proc.stderr
    assert (f"benchsuite: {disagreeing} timing(s) disagree" in proc.stderr) == bool(disagreeing), proc.stderr
    assert "harness overhead (no-op call): p50" in proc.stdout
    assert "Timer median ms" in proc.stdout and "p50 CV % (2 repeats)" in proc.stdout
    assert "median over 2 paired rounds" in proc.stdout
    assert "threads=1:" in proc.stdout  # the check ran with the threads it was given
    for args, message in ((["--repeats", "1"], "needs at least 2"), (["--threads", "0"], "--threads got 0"),
                          (["--rounds", "0"], "--rounds got 0")):
        bad = cli("validate", *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
