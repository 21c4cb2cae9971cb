"""fp16 and bf16: the whole model cast to half or bfloat16, float32 logits out."""

from __future__ import annotations

import torch
from torch import nn

from benchsuite import CompressionMethod, Unsupported, hookimpl


class CastPrecision(nn.Module):
    """Runs `model` in `dtype`: floating-point inputs are cast on the way in, logits come back as float32.

    Integer inputs (token ids, attention masks) pass through unchanged.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        # Module.to casts floating-point parameters and buffers only; integer buffers (position ids) are kept
        self.model = model.to(dtype)
        self.compute_dtype = dtype

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        cast = tuple(t.to(self.compute_dtype) if t.is_floating_point() else t for t in inputs)
        return self.model(*cast).float()


class _ReducedPrecision(CompressionMethod):
    family = "quantization"
    deterministic = True
    dtype: torch.dtype

    def apply(self, model, context):
        if not any(p.is_floating_point() for p in model.parameters()):
            raise Unsupported(f"{self.name} casts floating-point parameters and this model has none")
        # norms are cast too: torch runs BatchNorm and LayerNorm in half and bfloat16 on the CPU (tested close to fp32)
        return CastPrecision(model, self.dtype).eval()


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
