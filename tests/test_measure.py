import torch
from torch import nn

from benchsuite.measure.policy import TimingPolicy
from benchsuite.measure.counts import count_flops, count_params, mean_flops, serialized_size_bytes
from benchsuite.sdk.memory import peak_cpu_memory_bytes, resident_tensor_bytes
from benchsuite.measure.timing import time_latency
from benchsuite_plugins.methods.dynamic_int8 import DynamicInt8


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).eval()


def test_latency_respects_minimum_count_and_time_and_orders_percentiles():
    calls = []

    def fn(x):
        calls.append(1)
        return x * 2

    policy = TimingPolicy(warmup_calls=3, warmup_seconds=0.0, min_calls=40, min_seconds=0.02, max_seconds=5)
    stats = time_latency(fn, (torch.ones(4),), policy)
    assert stats.warmup_calls >= 3
    assert stats.samples >= 40 and len(calls) == stats.samples + stats.warmup_calls
    assert 0 < stats.p50_ms <= stats.p90_ms <= stats.p99_ms
    assert stats.throughput_sps(4) > 0


def test_latency_stops_at_max_seconds():
    def slow(x):
        torch.ones(1)
        import time
        time.sleep(0.01)
        return x

    policy = TimingPolicy(warmup_calls=0, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=10_000,
                          min_seconds=0.0, max_seconds=0.1)
    stats = time_latency(slow, (torch.ones(1),), policy)
    assert 5 <= stats.samples < 100 and len(stats.samples_ms) == stats.samples


def test_warm_up_goes_on_until_the_timings_are_steady():
    import time

    calls = []

    def warming(x):  # each call faster than the last for 10 calls (caches, allocator, clocks), then flat
        calls.append(1)
        time.sleep(max(0.001, 0.021 - 0.002 * len(calls)))
        return x

    policy = TimingPolicy(warmup_calls=1, warmup_seconds=0.0, max_warmup_seconds=10, min_calls=20, min_seconds=0)
    stats = time_latency(warming, (torch.ones(1),), policy)
    assert stats.steady and stats.warmup_calls >= 10 and stats.p50_ms < 4  # the warming calls were not timed


def test_warm_up_that_never_settles_is_recorded_as_not_steady():
    import time

    calls = []

    def slower_each_call(x):
        calls.append(1)
        time.sleep(0.001 * len(calls))
        return x

    policy = TimingPolicy(warmup_calls=1, warmup_seconds=0.0, max_warmup_seconds=0.2, min_calls=3, min_seconds=0)
    assert not time_latency(slower_each_call, (torch.ones(1),), policy).steady


def test_a_backend_timer_replaces_the_wall_clock():
    policy = TimingPolicy(warmup_calls=2, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=20, min_seconds=0)
    stats = time_latency(lambda x: x, (torch.ones(1),), policy, timed_call=lambda fn, args: 7_000_000)
    assert stats.p50_ms == stats.p99_ms == 7.0 and stats.p50_ci_ms() == (7.0, 7.0)


def test_param_counts_see_zeros_and_quantized_weights():
    model = mlp()
    total, nonzero = count_params(model)
    assert total == 64 * 128 + 128 + 128 * 10 + 10 == nonzero
    with torch.no_grad():
        model[0].weight[:32].zero_()
    assert count_params(model) == (total, total - 32 * 64)
    quantized = DynamicInt8().apply(mlp(), None)
    assert count_params(quantized)[0] == total  # packed int8 weights are still counted


def test_serialized_size_shrinks_with_int8():
    float_size, int8_size = serialized_size_bytes(mlp()), serialized_size_bytes(DynamicInt8().apply(mlp(), None))
    assert float_size > (64 * 128 + 128 * 10) * 4
    assert int8_size < 0.4 * float_size


def test_flops_of_linear_layers_including_quantized_ones():
    x = (torch.randn(1, 64),)
    expected = 2 * (64 * 128 + 128 * 10)
    assert count_flops(mlp(), x) == expected
    assert count_flops(DynamicInt8().apply(mlp(), None), x) == expected


def test_mean_flops_averages_an_input_dependent_model():
    class ExitEarlyOnPositive(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            h = self.first(x)
            return h if bool(x.sum() > 0) else self.second(h)

    model, one = ExitEarlyOnPositive(), 2 * 8 * 8
    inputs = [(torch.ones(1, 8),), (-torch.ones(1, 8),), (-torch.ones(1, 8),), (torch.ones(1, 8),)]
    assert mean_flops(model, inputs) == round(1.5 * one)
    assert mean_flops(model, inputs[:1]) == one and mean_flops(model, []) is None


def test_peak_memory_covers_weights_and_a_large_activation():
    model = nn.Linear(1024, 4096).eval()
    x = torch.randn(256, 1024)
    peak = peak_cpu_memory_bytes(model, model, (x,))
    assert peak is not None
    weights = resident_tensor_bytes(model)
    assert weights == (1024 * 4096 + 4096) * 4
    assert peak >= weights + 256 * 4096 * 4 * 0.9  # the 4 MiB output was resident during the call
