"""fp16 and bf16: the whole model cast to half or bfloat16, float32 logits out."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchsuite import CompressionMethod, Unsupported, hookimpl


#: buffers that stay float32 in a cast model: rotary position frequencies (Llama's ``inv_freq``). The angle at position
#: p is p times a frequency, so a rounded frequency's error grows with p: in bfloat16, position 200's angles would be
#: off by up to 0.09 radian (head size 64), in float16 by 0.03, and more at longer contexts
FLOAT32_BUFFERS = ("inv_freq", "original_inv_freq")


class CastPrecision(nn.Module):
    """Runs `model` in `dtype`: floating-point inputs are cast on the way in, logits come back as float32.

    Integer inputs (token ids, attention masks) and anything not a tensor (a KV cache) pass through unchanged.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        kept = {name: buffer for name, buffer in model.named_buffers()
                if name.rpartition(".")[2] in FLOAT32_BUFFERS and buffer.dtype == torch.float32}
        # Module.to casts floating-point parameters and buffers only; integer buffers (position ids) are kept
        self.model = model.to(dtype)
        for name, buffer in kept.items():
            owner, _, attr = name.rpartition(".")
            setattr(self.model.get_submodule(owner), attr, buffer)
        self.compute_dtype = dtype

    def forward(self, *inputs: Any) -> torch.Tensor:
        cast = tuple(t.to(self.compute_dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                     for t in inputs)
        return self.model(*cast).float()


class CastGenerator(CastPrecision):
    """`CastPrecision` of a generative model (`benchsuite.Generation`): ``model(input_ids, cache)`` passes the cache
    through, and ``new_cache()`` is the model's (its keys and values are kept in `dtype`)."""

    def new_cache(self) -> Any:
        return self.model.new_cache()


class _ReducedPrecision(CompressionMethod):
    family = "quantization"
    deterministic = True
    dtype: torch.dtype

    def apply(self, model, context):
        if not any(p.is_floating_point() for p in model.parameters()):
            raise Unsupported(f"{self.name} casts floating-point parameters and this model has none")
        # norms are cast too: torch runs BatchNorm and LayerNorm in half and bfloat16 on the CPU (tested close to fp32)
        wrapper = CastGenerator if hasattr(model, "new_cache") else CastPrecision
        return wrapper(model, self.dtype).eval()


class Float16(_ReducedPrecision):
    name = "fp16"
    kernels = frozenset({"fp16"})
    dtype = torch.float16


class BFloat16(_ReducedPrecision):
    name = "bf16"
    kernels = frozenset({"bf16"})
    dtype = torch.bfloat16


@hookimpl
def benchsuite_register_methods(register):
    register(Float16)
    register(BFloat16)
