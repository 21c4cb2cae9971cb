"""onnxruntime: the model exported to ONNX (torch.onnx, dynamo exporter) and run by ONNX Runtime's CPU provider.

Before a model is timed, its ONNX outputs are checked against PyTorch's on the task's example inputs; a model
the exporter cannot take (torch.ao quantized modules, data-dependent early exits) is a `skipped` row that
quotes the exporter. Models that already are ONNX graphs (the ort-int8 method) run as they are.
"""

from __future__ import annotations

import importlib.util

import torch

from benchsuite import Availability, Backend, BenchsuiteError, Param, hookimpl
from benchsuite.errors import Unsupported
from benchsuite_plugins.onnx_export import OPSET, export_onnx, new_session, onnx_feeds

#: exported outputs must match PyTorch's within atol + rtol * max|PyTorch output| (fp32 kernels reorder sums)
RTOL, ATOL = 1e-3, 1e-4


class OnnxRuntime(Backend):
    name = "onnxruntime"
    device = "cpu"
    generation_unsupported = ("its model is an ONNX graph exported from one forward pass, model(input_ids), with "
                              "no KV-cache inputs or outputs, so it cannot decode token by token")
    parameters = (
        Param("threads", int, 0, "intra-op threads; 0 uses torch's default (one per physical core), so that both "
              "runtimes get the same cores", min=0, max=1024),
        Param("opset", int, OPSET, "ONNX opset to export to", min=13, max=23),
    )

    def availability(self):
        missing = [m for m in ("onnxruntime", "onnxscript", "onnx") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"{', '.join(missing)} not installed; pip install -c constraints.txt "
                                       "onnxruntime onnxscript onnx")
        return Availability(True)

    def supports(self, kernels):
        if "bf16" in kernels:
            return ("ONNX Runtime's CPU execution provider has no bfloat16 kernels for most operators (Conv, Add, "
                    "MatMul), so a bf16 model does not load; measure bf16 on torch-cpu or torch-compile")
        return None

    def _threads(self) -> int:
        return self.params["threads"] or torch.get_num_threads()

    def prepare(self, model, example_inputs):
        model = model.to("cpu").eval()
        onnx_bytes = getattr(model, "onnx_bytes", None)
        if onnx_bytes is None:
            onnx_bytes = export_onnx(model, example_inputs, self.params["opset"])
        try:
            session = new_session(onnx_bytes, self._threads())
        except Exception as exc:
            if not type(exc).__module__.startswith("onnxruntime"):
                raise
            message = " ".join(str(exc).split())
            raise Unsupported(f"ONNX Runtime's CPU provider cannot run the exported model: {type(exc).__name__}: "
                              f"{message}") from None

        def run(*inputs):
            return torch.from_numpy(session.run(None, onnx_feeds(session, inputs))[0])

        if not hasattr(model, "onnx_bytes"):
            _check_outputs(model, run, example_inputs)
        return run

    def settings(self):
        return {"threads": self._threads()}


def _check_outputs(model, run, example_inputs) -> None:
    with torch.inference_mode():
        expected = model(*example_inputs).float()
        got = run(*example_inputs).float()
    if got.shape != expected.shape:
        raise BenchsuiteError(f"exported ONNX model returns shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    diff = float((got - expected).abs().max())
    tolerance = ATOL + RTOL * float(expected.abs().max())
    if diff > tolerance:
        raise BenchsuiteError(f"exported ONNX model disagrees with PyTorch: max |difference| {diff:.3g} > "
                              f"tolerance {tolerance:.3g} on the task's example inputs")


@hookimpl
def benchsuite_register_backends(register):
    register(OnnxRuntime)
