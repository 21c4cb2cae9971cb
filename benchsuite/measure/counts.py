"""What a model holds and costs: learned values (total and nonzero), serialized weights (what ships), FLOPs."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import is_traceable_wrapper_subclass

from benchsuite.sdk.interfaces import Inputs


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
