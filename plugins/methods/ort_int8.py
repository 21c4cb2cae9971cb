"""ort-int8: ONNX Runtime's dynamic int8 quantization of the exported model (int8 weights, activations quantized
per call by the runtime). The result is an ONNX graph, which only the onnxruntime backend runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchsuite import Param, Unsupported, hookimpl
from benchsuite.measure.counts import count_flops
from benchsuite_plugins.onnx_export import OnnxModel, export_onnx

from .language_models import SkipsLanguageModels


class OrtInt8(SkipsLanguageModels):
    name = "ort-int8"
    causal_lm_missing = ("ort-int8 makes an ONNX graph of one forward pass, model(input_ids), which only the "
                         "onnxruntime backend runs, and that backend skips causal-lm tasks: the graph takes no KV "
                         "cache, so it cannot be timed generating text")
    family = "quantization"
    deterministic = True
    backends = ("onnxruntime",)
    batch_dependent = True  # activations are quantized with one scale per tensor, over the whole batch
    parameters = (
        Param("per_channel", bool, True, "one weight scale per output channel (else one per tensor)"),
        Param("reduce_range", bool, True, "7-bit weights: avoids the saturation of the u8 x s8 instruction "
              "(VPMADDUBSW) that ONNX Runtime uses on AVX2 / AVX-512 CPUs without VNNI, as its docs advise"),
        Param("ops", str, "MatMul,Gemm", "ONNX op types to quantize, comma-separated (e.g. MatMul,Gemm,Conv; "
              "ConvInteger has no ONNX Runtime CPU kernel for some layouts)"),
    )
    standard_configs = ({},)
    sweep_configs = ({"per_channel": False},)

    def apply(self, model, context):
        import onnx
        import onnxruntime.quantization as ortq

        if context.example_inputs is None:
            raise Unsupported("ort-int8 needs the task's example inputs to export the model")
        ops = [op.strip() for op in self.params["ops"].split(",") if op.strip()]
        graph = onnx.load_from_string(export_onnx(model, context.example_inputs(context.task.batch_size)))
        del graph.graph.value_info[:]  # the exporter's intermediate shapes trip the quantizer's shape inference
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp, "model.int8.onnx")
            ortq.quantize_dynamic(graph, target, op_types_to_quantize=ops, per_channel=self.params["per_channel"],
                                  reduce_range=self.params["reduce_range"],
                                  weight_type=ortq.QuantType.QInt8)
            quantized = target.read_bytes()
        return OnnxModel(quantized, flops=count_flops(model, context.example_inputs(1)))


@hookimpl
def benchsuite_register_methods(register):
    register(OrtInt8)
