"""The harness checks behind `benchsuite validate` (their figures are measured by the command, not asserted)."""

import torch
from torch import nn

from benchsuite.measure import TimingPolicy
from benchsuite.validate import Agreement, harness_overhead, repeatability, timer_agreement
from conftest import GOOD, cli

POLICY = TimingPolicy.quick()


def test_agreement_compares_the_same_call_under_both_timers():
    model = nn.Linear(64, 64).eval()
    agreement = timer_agreement("linear", model, (torch.randn(8, 64),), POLICY, min_run_time=0.05)
    assert agreement.benchsuite_p50_ms > 0 and agreement.timer_median_ms > 0
    assert agreement.threads == torch.get_num_threads()
    assert Agreement("x", 1.04, 1.0, 1).agrees and not Agreement("x", 1.06, 1.0, 1).agrees
    assert Agreement("x", 0.96, 1.0, 1).difference < 0


def test_overhead_is_timed_on_a_call_that_does_nothing():
    stats = harness_overhead(TimingPolicy(warmup_calls=5, warmup_seconds=0, max_warmup_seconds=0, min_calls=500,
                                          min_seconds=0))
    assert stats.samples == 500 and 0 < stats.p50_ms


def test_repeatability_gives_one_p50_per_repeat_and_their_cv():
    p50s, cv = repeatability(nn.Linear(16, 16).eval(), [(torch.randn(4, 16),)], POLICY, repeats=3)
    assert len(p50s) == 3 and cv >= 0


def test_validate_command_prints_every_figure(tmp_path):
    env = {"BENCHSUITE_CACHE": str(tmp_path / "cache")}
    proc = cli("validate", "--quick", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--repeats", "2", env=env)
    assert proc.returncode in (0, 1), proc.stderr  # 1 = a disagreement beyond 5%, possible with quick timings
    assert "harness overhead (no-op call): p50" in proc.stdout
    assert "Timer median ms" in proc.stdout and "p50 CV % (2 repeats)" in proc.stdout
    bad = cli("validate", "--repeats", "1")
    assert bad.returncode == 2 and "needs at least 2" in bad.stderr and "Traceback" not in bad.stderr
