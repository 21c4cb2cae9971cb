"""Memory a model needs: its tensors' resident bytes and the peak of one call (a Backend's default
`peak_memory_bytes`).
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils._python_dispatch import is_traceable_wrapper_subclass

if TYPE_CHECKING:
    from benchsuite.sdk.interfaces import Inputs



def resident_tensor_bytes(model: nn.Module) -> int:
    """Bytes held by the model's tensors (parameters, buffers, quantized packed weights), each storage once."""
    seen: set[int] = set()
    total = 0

    def add(t: object) -> None:
        nonlocal total
        if isinstance(t, (tuple, list)):
            for item in t:
                add(item)
        elif is_traceable_wrapper_subclass(t):  # torchao's Int8Tensor: no storage, count its inner tensors
            add([getattr(t, name) for name in t.__tensor_flatten__()[0]])
        elif isinstance(t, torch.Tensor) and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()

    for t in model.state_dict().values():
        add(t)
    return total


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_cpu_memory_bytes(model: nn.Module, fn: Callable[..., torch.Tensor], inputs: Inputs) -> int | None:
    """Resident bytes of the model's tensors plus the peak extra resident memory of one call.

    The extra memory is the rise of the process's resident-set high-water mark (VmHWM, reset through
    /proc/self/clear_refs) above its size just before the call. Linux only; None elsewhere.
    """
    _release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return None
    before = _proc_status_kb("VmRSS")
    with torch.inference_mode():
        fn(*inputs)
    peak = _proc_status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return resident_tensor_bytes(model) + max(0, peak - before) * 1024
