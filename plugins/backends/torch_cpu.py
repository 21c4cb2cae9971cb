"""torch-cpu: eager PyTorch on the CPU with a settable, recorded intra-op thread count."""

from __future__ import annotations

import torch

from benchsuite import KERNELS, Backend, Param, hookimpl
from benchsuite.measure.hardware import CPU_KERNEL_FEATURES, native_cpu_kernels


class TorchCPU(Backend):
    name = "torch-cpu"
    device = "cpu"
    generates = True  # the model itself runs: its KV-cache call works as in eager PyTorch
    parameters = (
        Param("threads", int, 0, "intra-op threads; 0 keeps torch's default (one per physical core)",
              min=0, max=1024),
        Param("emulated", bool, False, "also run models that need arithmetic this CPU has no native kernels for "
              "(fp16, bf16, int8 x int8 matmul on an AVX2-only CPU): PyTorch then emulates it, slowly"),
    )

    def supports(self, kernels):
        missing = sorted(set(kernels) - native_cpu_kernels())
        if not missing or self.params["emulated"]:
            return None
        kernel = missing[0]
        return (f"this CPU has no native {KERNELS[kernel]} (needs one of {', '.join(CPU_KERNEL_FEATURES[kernel])}), "
                f"so PyTorch would emulate it, far slower than fp32; to measure it anyway use "
                f"--backend torch-cpu:emulated=true")

    def prepare(self, model, example_inputs):
        if self.params["threads"]:
            torch.set_num_threads(self.params["threads"])
        return model.to("cpu").eval()

    def settings(self):
        return {"threads": torch.get_num_threads()}


@hookimpl
def benchsuite_register_backends(register):
    register(TorchCPU)
