"""torch-compile: the model compiled by TorchInductor for the CPU (C++/OpenMP kernels built with the system compiler).

Compilation happens in `prepare` and on the first call, which the runner times as `compile_seconds`; latency is
timed only after warm-up. Inductor's cache lives under benchsuite's cache folder (``inductor/``), so a second
run of the same architecture reuses compiled kernels, unless ``TORCHINDUCTOR_CACHE_DIR`` is already set.
"""

from __future__ import annotations

import os
import shutil

import torch

from benchsuite import Availability, Param, hookimpl
from benchsuite.sdk.paths import cache_dir
from benchsuite_plugins.backends.torch_cpu import TorchCPU


class TorchCompile(TorchCPU):
    name = "torch-compile"
    parameters = TorchCPU.parameters + (
        Param("mode", str, "default", "torch.compile mode", choices=("default", "max-autotune-no-cudagraphs")),
        Param("freezing", bool, True, "inline the weights as constants (inference only; lets inductor fold them "
              "and use its int8 patterns for PT2E-quantized graphs)"),
    )

    def availability(self):
        compiler = os.environ.get("CXX") or next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
        if compiler is None:
            return Availability(False, "TorchInductor needs a C++ compiler for CPU kernels; install g++ "
                                       "(e.g. apt install g++)")
        return Availability(True)

    def prepare(self, model, example_inputs):
        import torch._inductor.config as inductor_config

        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))
        inductor_config.freezing = self.params["freezing"]
        model = super().prepare(model, example_inputs)
        torch._dynamo.reset()  # each run compiles its own model; the on-disk cache still applies
        compiled = torch.compile(model, mode=self.params["mode"])

        def run(*inputs):
            # Image batches keep a static batch size (one compilation per size: the task's, the last evaluation
            # batch's, 1): with a symbolic batch, inductor's channels-last layouts for int8 PT2E convolutions
            # fail a stride check on 1-channel inputs. Token inputs stay automatic-dynamic (one graph for all
            # sequence lengths), since a compilation per length would take minutes.
            for t in inputs:
                if isinstance(t, torch.Tensor) and t.dim() >= 4:
                    torch._dynamo.mark_static(t, 0)
            return compiled(*inputs)

        with torch.inference_mode():
            run(*example_inputs)  # compile now, at the task batch size
        return run


@hookimpl
def benchsuite_register_backends(register):
    register(TorchCompile)
