"""static-int8: post-training static int8 quantization through PT2E (torch.export, torchao's x86 quantizer),
calibrated on training samples.

The result runs eagerly as quantize/dequantize reference ops around fp32 kernels (usually slower than fp32);
it becomes int8 kernels when a backend compiles it with inductor (see `benchsuite_plugins.methods.pt2e`).
"""

from __future__ import annotations

import torch

from benchsuite import Param, hookimpl
from benchsuite.sdk.tracks import CLOSED_BUDGET_CALIBRATION_SAMPLES

from .language_models import SkipsLanguageModels
from .pt2e import CANNOT_GENERATE, convert, export_graph, torchao_pt2e, x86_quantizer


class StaticInt8(SkipsLanguageModels):
    name = "static-int8"
    causal_lm_missing = f"static-int8 {CANNOT_GENERATE}"
    devices = ("cpu",)  # X86InductorQuantizer: an x86 CPU int8 graph
    family = "quantization"
    parameters = (
        Param("calibration_samples", int, 512, "unlabelled training samples run through the observers (the closed "
              f"track allows {CLOSED_BUDGET_CALIBRATION_SAMPLES})", min=1, max=100_000),
    )
    standard_configs = ({},)
    sweep_configs = ({"calibration_samples": 64},)

    def apply(self, model, context):
        batches = context.calibration_inputs(self.params["calibration_samples"])
        inputs = next(batches)
        graph = export_graph(model, inputs, context.task.modality)
        prepared = torchao_pt2e().prepare_pt2e(graph, x86_quantizer(qat=False))
        with torch.no_grad():
            prepared(*inputs)
            for inputs in batches:
                prepared(*inputs)
        return convert(prepared)


@hookimpl
def benchsuite_register_methods(register):
    register(StaticInt8)
