"""Shared PT2E plumbing for static-int8 and qat-int8: torch.export with dynamic batch (and sequence) dimensions,
torchao's x86 int8 quantizer, and a module wrapper that lets the rest of benchsuite treat the graph as a model.

A PT2E-converted model is an FX graph of float ops between quantize/dequantize pairs (int8 weights stored,
int8 activations simulated). Run eagerly it executes those reference ops and is slower than fp32; the int8
kernels appear only when inductor compiles the graph with ``torch._inductor.config.freezing = True``, which must
be in force at every (re)compilation: one without it (e.g. on a first call under another grad mode) silently
keeps the reference ops. Methods return the converted graph uncompiled: compiling is a backend's job. With
torch 2.13, quantized convolutions fail to compile with dynamic shapes (a stride assertion in the qconv
lowering); ``dynamic=False`` works.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from benchsuite import Unsupported

# Loggers that print harmless noise while torchao imports: its CUDA-only kernel libraries failing to load on a
# CPU build, and torch's notice about torchao's enum registrations.
_NOISY_IMPORT_LOGGERS = ("torchao", "torch.utils._pytree")

#: why the PT2E methods skip language models (their skipped row's reason follows the method's name)
CANNOT_GENERATE = ("exports one forward pass, model(input_ids), to a torch.export graph, which takes no KV cache: "
                   "the compressed model could not generate text with model(input_ids, cache) as causal-lm "
                   "tasks need")
#: the graph ops that carry int8 quantization in a converted model
QDQ_OPS = ("quantize_per_tensor", "dequantize_per_tensor", "quantize_per_channel", "dequantize_per_channel")

# Graph ops whose train/eval behaviour is an argument: op -> index of the `train`/`training` flag.
_MODE_FLAGS = {
    torch.ops.aten.dropout.default: 2,
    torch.ops.aten.feature_dropout.default: 2,
    torch.ops.aten.alpha_dropout.default: 2,
    torch.ops.aten.batch_norm.default: 5,
}


@contextmanager
def _quiet_import():
    loggers = [logging.getLogger(name) for name in _NOISY_IMPORT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def torchao_pt2e() -> Any:
    """torchao's PT2E entry points, `prepare_pt2e`, `prepare_qat_pt2e`, `convert_pt2e` (imported on first use:
    torchao is slow to import)."""
    try:
        with _quiet_import():
            import torchao.quantization.pt2e.quantize_pt2e as quantize_pt2e
    except ImportError as exc:
        raise ImportError(f"PT2E int8 quantization needs torchao ({exc}); install it with: "
                          "pip install -c constraints.txt torchao") from None
    return quantize_pt2e


def x86_quantizer(*, qat: bool) -> Any:
    """torchao's X86InductorQuantizer with its default config: int8 per-channel symmetric weights, uint8
    per-tensor affine activations (histogram observers for calibration, fused fake-quantizers for QAT).

    Importing the quantizer module also registers the inductor passes that lower q/dq patterns to int8 kernels.
    """
    with _quiet_import():
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    return xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config(is_qat=qat))


def _at_least_two(inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    # torch.export specializes a dimension of size 1 to the constant 1, so trace with a batch of at least 2
    if len(inputs[0]) >= 2:
        return tuple(inputs)
    return tuple(torch.cat([t, t]) for t in inputs)


def dynamic_shapes(inputs: Sequence[torch.Tensor], modality: str) -> tuple[dict[int, Any], ...]:
    """Dimension 0 (the batch) of every input is dynamic; for NLP also dimension 1 (the sequence)."""
    dynamic = torch.export.Dim.DYNAMIC
    return tuple({0: dynamic, 1: dynamic} if modality == "nlp" and t.dim() >= 2 else {0: dynamic}
                 for t in inputs)


def export_graph(model: nn.Module, inputs: Sequence[torch.Tensor], modality: str) -> torch.fx.GraphModule:
    """Capture `model` in eval mode as an aten-level FX graph with dynamic shapes.

    Always in eval mode: a training-mode export bakes training-only constants into ops that no mode switch
    can reach (Hugging Face attention passes its dropout probability to scaled_dot_product_attention).
    Non-strict export traces the Python code as it runs, which Hugging Face models need.

    :raises Unsupported: if torch.export cannot capture the model.
    """
    example = _at_least_two(inputs)
    try:
        program = torch.export.export(model.eval(), example, dynamic_shapes=dynamic_shapes(example, modality),
                                      strict=False)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise Unsupported(f"torch.export cannot capture {type(model).__name__} with dynamic batch"
                          f"{' and sequence' if modality == 'nlp' else ''} dimensions: "
                          f"{type(exc).__name__}: {first}") from exc
    return program.module()


def set_graph_training(graph: torch.fx.GraphModule, training: bool) -> None:
    """Switch the dropout and batch-norm ops of an exported graph between training and inference, in place.

    torchao's `move_exported_model_to_train` does this by pattern replacement, which also resets each
    dropout probability to 0.5 and batch norm's momentum and eps to their defaults; this flips the flag only.
    """
    changed = False
    for node in graph.graph.nodes:
        index = _MODE_FLAGS.get(node.target) if node.op == "call_function" else None
        if index is not None and len(node.args) > index and node.args[index] != training:
            node.args = (*node.args[:index], training, *node.args[index + 1:])
            changed = True
    if changed:
        graph.recompile()


def fold_batch_norm(graph: torch.fx.GraphModule) -> None:
    """Fold every batch norm that follows a convolution into the convolution's weights and bias (with its
    running statistics), in place; the same fold `prepare_pt2e` applies for static quantization."""
    from torchao.quantization.pt2e.utils import _fuse_conv_bn_

    _fuse_conv_bn_(graph)
    graph.recompile()


def drop_unused_tensors(graph: torch.fx.GraphModule) -> None:
    """Delete parameters and buffers the graph no longer reads (conversion leaves the float weights behind
    next to their int8 copies, which would double the model's size and memory)."""
    used = {node.target for node in graph.graph.nodes if node.op == "get_attr"}
    for name, _ in [*graph.named_parameters(), *graph.named_buffers()]:
        if name not in used:
            owner, _, attr = name.rpartition(".")
            delattr(graph.get_submodule(owner), attr)
    graph.delete_all_unused_submodules()


class ExportedModel(nn.Module):
    """An exported (PT2E) graph as an ordinary module: ``model(*inputs) -> logits``, and ``train()``/``eval()``
    switch the graph's dropout and batch-norm ops (torchao forbids them on the graph itself)."""

    def __init__(self, graph: torch.fx.GraphModule) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.graph(*inputs)

    def train(self, mode: bool = True) -> ExportedModel:
        self.training = mode
        set_graph_training(self.graph, mode)
        return self


def convert(prepared: torch.fx.GraphModule) -> ExportedModel:
    """torchao's `convert_pt2e` (int8 weights folded in, observers replaced by quantize/dequantize ops), the
    float leftovers dropped, wrapped for the core."""
    set_graph_training(prepared, False)
    graph = torchao_pt2e().convert_pt2e(prepared)
    drop_unused_tensors(graph)
    return ExportedModel(graph).eval()


def qdq_op_counts(model: nn.Module) -> Counter[str]:
    """How many quantize/dequantize ops of each kind a graph (or ExportedModel) calls, e.g.
    ``dequantize_per_channel: 13`` for 13 int8 weight tensors."""
    graph = model.graph if isinstance(model, ExportedModel) else model
    counts: Counter[str] = Counter()
    for node in graph.graph.nodes:
        if node.op == "call_function":
            name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
            if name in QDQ_OPS:
                counts[name] += 1
    return counts
