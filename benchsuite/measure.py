"""Measurements of one prepared model: latency, size, parameter counts, FLOPs, peak memory."""

from __future__ import annotations

import ctypes
import gc
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import is_traceable_wrapper_subclass

from .interfaces import Batch, Inputs, Metric, wall_clock_call
from .stats import bootstrap_score_ci, wilson_interval


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and how long to time.

    Warm-up runs at least `warmup_calls` calls, `warmup_seconds` and (if `warmup_full_pass`) one pass over the
    inputs, then goes on in windows (one pass over the inputs, at least 5 calls) until the median of a window
    is within `steady_tolerance` of the previous window's, or `max_warmup_seconds` pass (recorded as not
    steady; a `max_warmup_seconds` of 0 skips the check, also recorded as not steady). Timing then runs until
    both `min_calls` and `min_seconds` are reached (or `max_seconds` passes, which the sample count records).
    """

    warmup_calls: int = 10
    warmup_seconds: float = 1.0
    steady_tolerance: float = 0.05
    max_warmup_seconds: float = 30.0
    min_calls: int = 50
    min_seconds: float = 2.0
    max_seconds: float = 60.0
    warmup_full_pass: bool = True

    @classmethod
    def quick(cls) -> TimingPolicy:
        """A smoke test's timing: two warm-up calls, no steadiness check, five timed calls."""
        return cls(warmup_calls=2, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=5, min_seconds=0.05,
                   max_seconds=5.0, warmup_full_pass=False)


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency statistics in milliseconds, with the samples they come from."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    samples: int
    warmup_calls: int
    samples_ms: tuple[float, ...] = ()
    #: whether warm-up reached a steady median before `max_warmup_seconds`
    steady: bool = True

    @classmethod
    def of(cls, samples_ms: Sequence[float], warmup_calls: int = 0, steady: bool = True) -> LatencyStats:
        ms = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(float(p50), float(p90), float(p99), float(ms.mean()),
                   float(ms.std(ddof=1)) if len(ms) > 1 else 0.0, len(ms), warmup_calls,
                   tuple(float(v) for v in ms), steady)

    def throughput_sps(self, batch_size: int) -> float:
        return batch_size / (self.mean_ms / 1000.0)

    def p50_ci_ms(self) -> tuple[float, float] | None:
        """Bootstrap 95% interval of the median."""
        from .stats import bootstrap_median_ci

        return bootstrap_median_ci(self.samples_ms)


def _median_ns(fn: Callable[..., object], cycle: Sequence[Inputs], calls: int, start: int,
               timed_call: Callable[[Callable[..., object], Inputs], int]) -> float:
    return float(np.median([timed_call(fn, cycle[(start + i) % len(cycle)]) for i in range(calls)]))


def time_latency(fn: Callable[..., torch.Tensor], inputs: Inputs | Sequence[Inputs], policy: TimingPolicy,
                 timed_call: Callable[[Callable[..., object], Inputs], int] = wall_clock_call) -> LatencyStats:
    """Warm up until steady, then time individual calls of ``fn(*inputs)``.

    `inputs` is one input tuple or a list of them; calls cycle through the list in order. `timed_call(fn, args)`
    returns the nanoseconds of one call (`wall_clock_call`, or a backend's device-event timer).
    """
    cycle = [inputs] if isinstance(inputs, tuple) else list(inputs)
    with torch.inference_mode():
        warm, start = 0, time.perf_counter()
        while (warm < max(policy.warmup_calls, len(cycle) if policy.warmup_full_pass else 0)
               or time.perf_counter() - start < policy.warmup_seconds):
            timed_call(fn, cycle[warm % len(cycle)])
            warm += 1
        steady, window = False, max(len(cycle), 5)
        if policy.max_warmup_seconds > 0:
            previous = _median_ns(fn, cycle, window, warm, timed_call)
            warm += window
        while time.perf_counter() - start < policy.max_warmup_seconds:
            current = _median_ns(fn, cycle, window, warm, timed_call)
            warm += window
            if abs(current / previous - 1) <= policy.steady_tolerance:
                steady = True
                break
            previous = current
        samples: list[int] = []
        clock, min_ns, max_ns = time.perf_counter_ns, policy.min_seconds * 1e9, policy.max_seconds * 1e9
        begin = clock()
        elapsed = 0
        while (len(samples) < policy.min_calls or elapsed < min_ns) and elapsed < max_ns:
            samples.append(timed_call(fn, cycle[len(samples) % len(cycle)]))
            elapsed = clock() - begin
    return LatencyStats.of(np.asarray(samples, dtype=np.float64) / 1e6, warm, steady)


@dataclass(frozen=True)
class Evaluation:
    """A model's score over the evaluation split, with its 95% interval (None where it has none)."""

    score: float
    samples: int
    extras: dict[str, float]
    interval: tuple[float, float] | None


def evaluate(fn: Callable[..., torch.Tensor], batches: Iterator[Batch], metric: Metric,
             on_batch: Callable[[int], None] = lambda n: None,
             extra: Sequence[Metric] = ()) -> Evaluation:
    """Run `fn` over the evaluation batches and score it with `metric` (and each `extra` metric).

    The interval is Wilson's for a proportion of samples (accuracy, agreement), otherwise a bootstrap over the
    evaluation samples (macro-F1), both 95%.
    """
    logits, labels = [], []
    with torch.inference_mode():
        for inputs, y in batches:
            out = fn(*inputs)
            logits.append(out.detach().float().cpu())
            labels.append(y)
            on_batch(len(y))
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)
    extras = {m.name: float(m.compute(all_logits, all_labels)) for m in extra}
    score, n = float(metric.compute(all_logits, all_labels)), len(all_labels)
    if metric.proportion:
        interval = wilson_interval(score, n)
    else:
        interval = bootstrap_score_ci(
            lambda picks: metric.compute(all_logits[picks], all_labels[picks]), n)
    return Evaluation(score, n, extras, interval)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy."""
    return float((logits.argmax(dim=-1) == labels).float().mean())


def macro_f1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Unweighted mean over classes of F1 (a class never predicted nor present counts as 0; classes are those
    of the logits)."""
    predicted = logits.argmax(dim=-1)
    scores = []
    for cls in range(logits.shape[-1]):
        tp = int(((predicted == cls) & (labels == cls)).sum())
        fp = int(((predicted == cls) & (labels != cls)).sum())
        fn = int(((predicted != cls) & (labels == cls)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores))


def _weights(model: nn.Module) -> Iterator[torch.Tensor]:
    """Learned tensors: parameters, plus quantized weights, which are not Parameters: the packed weights of
    torch.ao quantized modules, and the int8 weight constants (buffers) of a PT2E-converted graph."""
    for p in model.parameters():
        yield p.detach()
    for b in model.buffers():
        if b.dtype in (torch.int8, torch.uint8):
            yield b
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if callable(weight) and not isinstance(weight, torch.Tensor):  # torch.ao quantized modules
            yield weight()
            bias = module.bias() if callable(getattr(module, "bias", None)) else None
            if bias is not None:
                yield bias


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, nonzero) learned values; quantized weights count as their dequantized values."""
    total = nonzero = 0
    for t in _weights(model):
        values = t.dequantize() if t.is_quantized or is_traceable_wrapper_subclass(t) else t  # torchao
        total += values.numel()
        nonzero += int(torch.count_nonzero(values))
    return total, nonzero


def serialized_weights(model: nn.Module) -> bytes:
    """The state dict as `torch.save` writes it: what must be shipped to load the model (and what a run's
    `artifact_sha256` hashes)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def serialized_size_bytes(model: nn.Module) -> int:
    """Bytes of the state dict as `torch.save` writes it, i.e. what must be shipped to load the model."""
    return len(serialized_weights(model))


def resident_tensor_bytes(model: nn.Module) -> int:
    """Bytes held by the model's tensors (parameters, buffers, quantized packed weights), each storage once."""
    seen: set[int] = set()
    total = 0

    def add(t: object) -> None:
        nonlocal total
        if isinstance(t, (tuple, list)):
            for item in t:
                add(item)
        elif is_traceable_wrapper_subclass(t):  # torchao's Int8Tensor: no storage, count its inner tensors
            add([getattr(t, name) for name in t.__tensor_flatten__()[0]])
        elif isinstance(t, torch.Tensor) and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()

    for t in model.state_dict().values():
        add(t)
    return total


def _int_mm_flops(a_shape: torch.Size, b_shape: torch.Size, *args, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def count_flops(model: nn.Module, inputs: Inputs) -> int | None:
    """Theoretical FLOPs of one forward pass (dense; multiply-add = 2), or None if they cannot be counted.

    `torch.utils.flop_counter` does not see torch.ao quantized Linear kernels, so those are counted from
    their shapes by a forward hook; it has no formula for the int8 matmul `aten._int_mm` (torchao's dynamic
    int8 Linear), so one is given.
    """
    from torch.utils.flop_counter import FlopCounterMode

    extra = 0

    def quantized_linear(module: nn.Module, args: tuple, _out: torch.Tensor) -> None:
        nonlocal extra
        x = args[0]
        extra += 2 * (x.numel() // module.in_features) * module.in_features * module.out_features

    handles = [m.register_forward_hook(quantized_linear) for m in model.modules()
               if hasattr(m, "_packed_params") and hasattr(m, "in_features")]
    try:
        counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten._int_mm: _int_mm_flops})
        with counter, torch.inference_mode():
            model(*inputs)
        return int(counter.get_total_flops()) + extra
    except Exception:
        return None
    finally:
        for h in handles:
            h.remove()


def mean_flops(model: nn.Module, inputs: Sequence[Inputs]) -> int | None:
    """FLOPs per forward pass averaged over `inputs`: the cost of a dynamic model (early exit) depends on them."""
    counts = [count_flops(model, x) for x in inputs]
    if not counts or any(c is None for c in counts):
        return None
    return round(sum(counts) / len(counts))


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_cpu_memory_bytes(model: nn.Module, fn: Callable[..., torch.Tensor], inputs: Inputs) -> int | None:
    """Resident bytes of the model's tensors plus the peak extra resident memory of one call.

    The extra memory is the rise of the process's resident-set high-water mark (VmHWM, reset through
    /proc/self/clear_refs) above its size just before the call. Linux only; None elsewhere.
    """
    _release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return None
    before = _proc_status_kb("VmRSS")
    with torch.inference_mode():
        fn(*inputs)
    peak = _proc_status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return resident_tensor_bytes(model) + max(0, peak - before) * 1024
