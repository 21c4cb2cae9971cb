"""qat-int8: quantization-aware training (Q8BERT-style: fake-quantized int8 weights and activations during
fine-tuning) through PT2E (torch.export, torchao's x86 quantizer in QAT mode), then conversion to int8.

Like static-int8, the result is a quantize/dequantize graph that a compiling backend lowers to int8 kernels.
Batch norm is folded into the convolutions before training, so its statistics stay frozen during QAT (as in
Jacob et al. 2018 once they freeze them). torchao can instead simulate a live batch norm around each
fake-quantized convolution, but matching its conv-bn patterns took about 40 s per model, more than a 100-step
fine-tune of the mnist-cnn reference (measured on 1 thread), and gave no better accuracy.
"""

from __future__ import annotations

import itertools

from benchsuite import Param, hookimpl
from benchsuite.sdk.training import train

from .language_models import SkipsLanguageModels
from .pt2e import (CANNOT_GENERATE, ExportedModel, convert, export_graph, fold_batch_norm, set_graph_training,
                   torchao_pt2e, x86_quantizer)


class QatInt8(SkipsLanguageModels):
    name = "qat-int8"
    causal_lm_missing = f"qat-int8 {CANNOT_GENERATE}"
    devices = ("cpu",)  # X86InductorQuantizer: an x86 CPU int8 graph
    family = "quantization"
    parameters = (
        Param("finetune_steps", int, 100, "fine-tuning steps with fake-quantized weights and activations", min=1),
        Param("lr", float, 0.0, "fine-tuning learning rate; 0 uses the task's", min=0.0, max=1.0),
    )
    standard_configs = ({},)
    sweep_configs = ({"finetune_steps": 300},)

    def apply(self, model, context):
        steps = self.params["finetune_steps"]
        batches = context.training_batches(steps)
        first = next(batches, None)
        if first is None:
            raise RuntimeError("qat-int8 got no fine-tuning batches: the wall-clock budget was already spent")
        graph = export_graph(model, first[0], context.task.modality)
        fold_batch_norm(graph)
        set_graph_training(graph, True)  # dropout on for training
        prepared = torchao_pt2e().prepare_qat_pt2e(graph, x86_quantizer(qat=True))
        train(ExportedModel(prepared), itertools.chain([first], batches), steps,
              self.params["lr"] or context.task.finetune_lr)
        return convert(prepared)


@hookimpl
def benchsuite_register_methods(register):
    register(QatInt8)
