"""torch-cuda: eager PyTorch on an NVIDIA GPU, each call timed with CUDA events, memory from the CUDA allocator."""

from __future__ import annotations

import torch

from benchsuite import KERNELS, Availability, Backend, Param, hookimpl

#: the compute capability each of KERNELS needs for native tensor-core / integer kernels
_MIN_CAPABILITY = {"fp16": (7, 0), "bf16": (8, 0), "int8-matmul": (7, 5)}


class TorchCUDA(Backend):
    name = "torch-cuda"
    device = "cuda"
    generates = True  # the model itself runs: its KV-cache call works as in eager PyTorch
    parameters = (Param("device_index", int, 0, "which visible GPU to use", min=0, max=63),)

    def availability(self):
        if not torch.cuda.is_available():
            build = "a CPU-only torch build" if torch.version.cuda is None else f"torch built for CUDA {torch.version.cuda}"
            return Availability(False, f"no CUDA GPU is visible ({build}; torch.cuda.is_available() is False)")
        if self.params["device_index"] >= torch.cuda.device_count():
            return Availability(False, f"device_index {self.params['device_index']} but only "
                                       f"{torch.cuda.device_count()} GPU(s) are visible")
        return Availability(True)

    def supports(self, kernels):
        capability = torch.cuda.get_device_capability(self.params["device_index"])
        for kernel in sorted(kernels):
            if capability < _MIN_CAPABILITY[kernel]:
                return (f"this GPU (compute capability {capability[0]}.{capability[1]}) has no native "
                        f"{KERNELS[kernel]}; it needs {'.'.join(map(str, _MIN_CAPABILITY[kernel]))}")
        return None

    def prepare(self, model, example_inputs):
        torch.cuda.set_device(self.params["device_index"])
        return model.to(self.device).eval()

    def synchronize(self):
        torch.cuda.synchronize()

    def timed_call(self, fn, args):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*args)
        end.record()
        end.synchronize()
        return round(start.elapsed_time(end) * 1e6)  # elapsed_time is in ms

    def peak_memory_bytes(self, model, fn, inputs):
        """Peak bytes the CUDA caching allocator handed out during one call, the model's weights included."""
        self.synchronize()
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            fn(*inputs)
        self.synchronize()
        return int(torch.cuda.max_memory_allocated())

    def settings(self):
        return {"threads": torch.get_num_threads(), "gpu": torch.cuda.get_device_name(self.params["device_index"])}


@hookimpl
def benchsuite_register_backends(register):
    register(TorchCUDA)
