"""dynamic-int8: PyTorch dynamic quantization of Linear layers (int8 weights, activations quantized per call)."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from benchsuite import CompressionMethod, hookimpl


class DynamicInt8(CompressionMethod):
    name = "dynamic-int8"
    family = "quantization"
    deterministic = True
    devices = ("cpu",)  # torch.ao quantized kernels (fbgemm / onednn / qnnpack) are CPU-only
    batch_dependent = True  # activations are quantized with one scale per tensor, over the whole batch

    def apply(self, model, context):
        with warnings.catch_warnings():  # torch.ao prints a migration notice pointing at torchao
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


@hookimpl
def benchsuite_register_methods(register):
    register(DynamicInt8)
