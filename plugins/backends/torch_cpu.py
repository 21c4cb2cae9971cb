"""torch-cpu: eager PyTorch on the CPU with a settable, recorded intra-op thread count."""

from __future__ import annotations

import torch

from benchsuite import Backend, Param, hookimpl


class TorchCPU(Backend):
    name = "torch-cpu"
    device = "cpu"
    parameters = (Param("threads", int, 0, "intra-op threads; 0 keeps torch's default (one per physical core)",
                        min=0, max=1024),)

    def prepare(self, model, example_inputs):
        if self.params["threads"]:
            torch.set_num_threads(self.params["threads"])
        return model.to("cpu").eval()

    def settings(self):
        return {"threads": torch.get_num_threads()}


@hookimpl
def benchsuite_register_backends(register):
    register(TorchCPU)
