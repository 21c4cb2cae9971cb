"""int8-weight-only and int8-dynamic-activation: torchao's int8 quantization of every nn.Linear weight."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from torch import nn

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl

GRANULARITY = Param("granularity", str, "row", "int8 scales: one per output row (per channel) or one per tensor",
                    choices=("row", "tensor"))


@contextmanager
def _quiet(*loggers: str):
    """Silence import-time warnings about torchao's CUDA-only extensions, which a CPU run never loads."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _torchao_quantization():
    # imported on first use: importing torchao takes seconds, which listing plugins should not pay
    try:
        with _quiet("torchao", "torch.utils._pytree"):
            import torchao.quantization
    except ImportError:
        raise Unsupported("needs torchao; install it with: pip install torchao") from None
    return torchao.quantization


class _TorchaoInt8(CompressionMethod):
    family = "quantization"
    deterministic = True
    parameters = (GRANULARITY,)

    def config(self, quantization, granularity):
        """The torchao config object for this method."""
        raise NotImplementedError

    def apply(self, model, context):
        if not any(isinstance(m, nn.Linear) for m in model.modules()):
            raise Unsupported(f"{self.name} quantizes nn.Linear layers and this model has none")
        quantization = _torchao_quantization()
        granularity = quantization.PerRow() if self.params["granularity"] == "row" else quantization.PerTensor()
        # quantize_ swaps each Linear weight for an Int8Tensor (int8 values plus float32 scales) in place
        quantization.quantize_(model, self.config(quantization, granularity))
        return model.eval()


class Int8WeightOnly(_TorchaoInt8):
    name = "int8-weight-only"

    def config(self, quantization, granularity):
        # set_inductor_config=False: we run eager, and torchao would otherwise change process-wide inductor flags
        return quantization.Int8WeightOnlyConfig(granularity=granularity, set_inductor_config=False)


class Int8DynamicActivation(_TorchaoInt8):
    name = "int8-dynamic-activation"
    kernels = frozenset({"int8-matmul"})

    def config(self, quantization, granularity):
        # activations are quantized per call (per token/row, symmetric) and multiplied in int8 (torch._int_mm)
        return quantization.Int8DynamicActivationInt8WeightConfig(granularity=granularity,
                                                                  set_inductor_config=False)


@hookimpl
def benchsuite_register_methods(register):
    register(Int8WeightOnly)
    register(Int8DynamicActivation)
