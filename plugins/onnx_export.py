"""PyTorch -> ONNX for the onnxruntime backend and the ort-int8 method, and the module that wraps an ONNX graph."""

from __future__ import annotations

import inspect
import io
import re
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from benchsuite import Unsupported

OPSET = 18


def _dynamic_shapes(model: nn.Module, example_inputs: Sequence[torch.Tensor]) -> tuple:
    """Batch (dim 0) dynamic for every input; token inputs (2-D integer) also dynamic in sequence length.

    The structure follows `forward`'s signature: one entry per positional parameter, or a single tuple for a
    ``forward(self, *inputs)``.
    """
    batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("seq", min=2, max=4096)
    shapes = []
    for t in example_inputs:
        dims: dict[int, object] = {0: batch}
        if t.dim() == 2 and not t.is_floating_point():
            dims[1] = seq
        shapes.append(dims)
    params = list(inspect.signature(model.forward).parameters.values())
    if params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return (tuple(shapes),)
    return tuple(shapes)


def export_onnx(model: nn.Module, example_inputs: Sequence[torch.Tensor], opset: int = OPSET) -> bytes:
    """The model as ONNX bytes (torch.export-based exporter), dynamic in batch and sequence length.

    Raises `Unsupported` with the exporter's reason when the model cannot be exported (e.g. torch.ao quantized
    modules, or data-dependent control flow such as early exits).
    """
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model.eval(), tuple(example_inputs), dynamo=True, opset_version=opset,
                                        dynamic_shapes=_dynamic_shapes(model, example_inputs), verbose=False,
                                        report=False)
            program.save(buffer)
    except Exception as exc:  # the exporter raises many types; all mean "this graph cannot go to ONNX"
        raise Unsupported(f"torch.onnx.export cannot export this model: {_root_cause(exc)}") from None
    return buffer.getvalue()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _root_cause(exc: BaseException, limit: int = 240) -> str:
    """The innermost cause's type and first line: the exporter wraps the real reason in several layers."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text[:limit]}{'…' if len(text) > limit else ''}"


def onnx_feeds(session: object, inputs: Sequence[torch.Tensor]) -> dict[str, np.ndarray]:
    """Inputs for ``session.run`` in the order of the model's inputs."""
    names = [i.name for i in session.get_inputs()]
    return {name: t.detach().cpu().numpy() for name, t in zip(names, inputs)}


def new_session(onnx_bytes: bytes, threads: int) -> object:
    """An ONNX Runtime CPU session with `threads` intra-op threads and every graph optimization on."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


class OnnxModel(nn.Module):
    """An ONNX graph (e.g. ONNX Runtime's int8 quantization of a model) held as bytes in a uint8 buffer.

    Its state dict is the graph, so the size column is the ONNX file's size. Only the onnxruntime backend runs
    it (with its own session settings); `forward` runs a default CPU session so the module stays callable.
    `benchsuite_counts` gives the counts the core cannot take from a torch graph: learned values from the
    graph's weight initializers, and the FLOPs of the float model it was made from.
    """

    def __init__(self, onnx_bytes: bytes, flops: int | None) -> None:
        super().__init__()
        self.register_buffer("onnx_model", torch.frombuffer(bytearray(onnx_bytes), dtype=torch.uint8))
        self.flops = flops
        self._session: object | None = None

    @property
    def onnx_bytes(self) -> bytes:
        return self.onnx_model.numpy().tobytes()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self._session is None:
            self._session = new_session(self.onnx_bytes, torch.get_num_threads())
        return torch.from_numpy(self._session.run(None, onnx_feeds(self._session, inputs))[0])

    def __deepcopy__(self, memo: dict) -> OnnxModel:
        return OnnxModel(self.onnx_bytes, self.flops)

    def benchsuite_counts(self) -> dict[str, int | None]:
        import onnx
        from onnx import numpy_helper

        total = nonzero = 0
        for init in onnx.load_from_string(self.onnx_bytes).graph.initializer:
            values = numpy_helper.to_array(init)
            if values.size <= 1 or init.name.endswith(("_scale", "_zero_point")):
                continue  # quantization scales and zero points, shape constants: not learned weights
            total += int(values.size)
            nonzero += int(np.count_nonzero(values))
        return {"params_total": total, "params_nonzero": nonzero, "flops": self.flops}
