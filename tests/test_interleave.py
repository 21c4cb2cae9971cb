"""Interleaved ratio timing (measure/interleave.py): the order of rounds and inputs, the interval over rounds, the
stopping rule, and that pairing rounds cancels a drift of the machine that timing apart does not."""

import itertools
import math

import numpy as np
import pytest
import torch

from benchsuite.measure.interleave import InputOrder, time_interleaved
from benchsuite.measure.intervals import median_interval, repeat_run_interval
from benchsuite.measure.policy import TimingPolicy
from benchsuite.measure.timing import time_latency

#: no warm-up beyond two calls, no real-time minimum: these tests drive a simulated clock
POLICY = TimingPolicy(warmup_calls=2, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=1, min_seconds=0.0,
                      min_rounds=8, round_calls=4, round_seconds=0.0, speedup_precision=0.03,
                      rounds_max_seconds=30.0, warmup_full_pass=False)


class Machine:
    """A simulated clock: `timed_call` returns each model's cost, scaled by a drift that grows with every call
    (the machine slowing down for minutes), plus optional noise. Deterministic, so nothing here is a timing test."""

    def __init__(self, costs_ns, drift_per_call=0.0, noise=0.0, seed=0):
        self.costs, self.drift, self.noise = costs_ns, drift_per_call, noise
        self.calls, self.log = 0, []
        self.rng = np.random.default_rng(seed)

    def timed_call(self, fn, args):
        self.calls += 1
        self.log.append((fn.__name__, int(args[0])))
        jitter = 1 + self.noise * self.rng.standard_normal() if self.noise else 1.0
        return int(self.costs[fn.__name__] * (1 + self.drift * self.calls) * jitter)


def model(name):
    def fn(*_args):
        return None
    fn.__name__ = name
    return fn


INPUTS = [(torch.tensor(i),) for i in range(5)]


def test_each_pass_over_the_inputs_is_a_seeded_permutation():
    first = InputOrder(5, seed=3).take(15)
    assert all(sorted(first[i:i + 5]) == list(range(5)) for i in (0, 5, 10))
    assert first == InputOrder(5, seed=3).take(15)
    assert first != InputOrder(5, seed=4).take(15)
    assert first[:5] != first[5:10] or first[5:10] != first[10:15]  # reshuffled every pass


def test_rounds_alternate_abba_on_the_same_inputs():
    machine = Machine({"method": 1e6, "base": 2e6})
    result = time_interleaved(model("method"), model("base"), INPUTS, POLICY, seed=0,
                              timed_call=machine.timed_call)
    timed = machine.log[-len(result.round_ratios) * 2 * result.calls_per_round:]
    blocks = [timed[i:i + result.calls_per_round] for i in range(0, len(timed), result.calls_per_round)]
    firsts = [blocks[i][0][0] for i in range(0, len(blocks), 2)]
    assert firsts[:4] == ["method", "base", "method", "base"]  # A B, B A, A B, B A
    for a, b in zip(blocks[::2], blocks[1::2]):
        assert [i for _, i in a] == [i for _, i in b]  # both models get the same inputs in a round
    assert result.speedup == pytest.approx(2.0) and result.stopped_by == "precision"


def test_interleaving_cancels_a_drift_that_separate_sessions_report_as_speedup():
    # the machine slows by 0.05% per call: a true 2.0x speedup
    costs = {"method": 1e6, "base": 2e6}
    machine = Machine(costs, drift_per_call=5e-4)
    result = time_interleaved(model("method"), model("base"), INPUTS, POLICY, seed=0,
                              timed_call=machine.timed_call)
    assert result.speedup == pytest.approx(2.0, rel=0.01)
    low, high = result.interval
    assert low <= 2.0 <= high * 1.01
    apart = Machine(costs, drift_per_call=5e-4)
    separate = TimingPolicy(warmup_calls=2, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=200,
                            min_seconds=0.0, warmup_full_pass=False)
    base = time_latency(model("base"), INPUTS, separate, apart.timed_call)
    method = time_latency(model("method"), INPUTS, separate, apart.timed_call)
    assert base.p50_ms / method.p50_ms < 1.85  # the baseline timed first looks faster than it is


def test_a_noisy_pair_runs_until_the_time_cap_and_says_so():
    policy = TimingPolicy(**{**POLICY.__dict__, "rounds_max_seconds": 0.0})
    machine = Machine({"method": 1e6, "base": 1.5e6}, noise=0.3)
    result = time_interleaved(model("method"), model("base"), INPUTS, policy, seed=0, timed_call=machine.timed_call)
    assert result.stopped_by == "time cap" and len(result.round_ratios) == policy.min_rounds


def test_quick_timing_stops_at_the_minimum_without_a_target():
    machine = Machine({"method": 1e6, "base": 1e6})
    result = time_interleaved(model("method"), model("method"), INPUTS, TimingPolicy.quick(), seed=0,
                              timed_call=machine.timed_call)
    assert result.stopped_by == "minimum" and result.speedup == pytest.approx(1.0)


def test_a_model_paired_with_itself_measures_the_noise_floor():
    machine = Machine({"base": 2e6}, noise=0.05)
    result = time_interleaved(model("base"), model("base"), INPUTS, POLICY, seed=0, timed_call=machine.timed_call)
    low, high = result.interval
    assert low < 1.0 < high and result.speedup == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(("n", "order_statistics"), [(6, (1, 6)), (9, (2, 8)), (10, (2, 9)), (20, (6, 15))])
def test_the_median_interval_is_the_binomial_order_statistic_interval(n, order_statistics):
    values = list(range(1, n + 1))
    assert median_interval(values[::-1]) == tuple(float(v) for v in order_statistics)


def test_too_few_rounds_have_no_interval():
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None


def test_the_median_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        low, high = median_interval(rng.lognormal(0.0, 0.2, size=12))
        covered += low <= 1.0 <= high
    assert 0.94 <= covered / 2000 <= 0.99  # the exact coverage at n = 12 is 96.1%


def _runs(rng, run_sd, rounds=12, round_sd=0.03):
    """Two runs' rounds of one pair whose true speedup is 2: each run has its own effect (between-runs sd
    `run_sd` on a log scale), each round its own noise."""
    return [2.0 * np.exp(rng.normal(0.0, run_sd) + rng.normal(0.0, round_sd, size=rounds)) for _ in range(2)]


def test_the_repeat_run_interval_covers_another_runs_speedup_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    repeat = rounds_only = 0
    for _ in range(2000):
        first, second = _runs(rng, run_sd=0.02)
        other = float(np.median(second))
        low, high = repeat_run_interval(first, between_runs_sd=0.02)
        repeat += low <= other <= high
        low, high = median_interval(first)
        rounds_only += low <= other <= high
    assert 0.93 <= repeat / 2000 <= 0.99
    assert rounds_only / 2000 < 0.75  # the rounds of one run cannot see the run effect (schema 7's interval)


def test_without_a_run_effect_the_repeat_run_interval_is_the_rounds_interval_widened_for_two_runs():
    values = [1.9, 1.95, 2.0, 2.0, 2.02, 2.05, 2.1, 2.2]
    low, high = median_interval(values)
    centre = float(np.median(values))
    assert repeat_run_interval(values, 0.0) == pytest.approx(
        (centre * (low / centre) ** math.sqrt(2), centre * (high / centre) ** math.sqrt(2)))
    assert repeat_run_interval(values[:5], 0.02) is None  # too few rounds for any interval


def test_the_rounds_of_a_real_pair_give_the_speedup_of_the_bigger_model():
    torch.manual_seed(0)
    small, big = torch.nn.Linear(256, 256), torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(4)])
    inputs = [(torch.randn(32, 256),) for _ in range(3)]
    result = time_interleaved(small, big, inputs, TimingPolicy.quick(), seed=0)
    assert result.speedup > 1.0 and result.method.samples >= 5 and result.baseline.samples == result.method.samples
    assert list(itertools.chain(result.round_ratios)) and all(r > 0 for r in result.round_ratios)
