"""benchsuite: accuracy and realized speed, size and memory of compressed models, measured in one record.

Plugin authors need only::

    from benchsuite import hookimpl, CompressionMethod, Param

Importing this package loads no plugins and does not import torch; `load_plugins()` does the discovery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from .errors import BenchsuiteError, Unsupported
from .interfaces import (FAMILIES, KERNELS, MODALITIES, Availability, Backend, CompressionMethod, Metric,
                         MethodContext, Task, TaskInfo)
from .params import Param

hookimpl = pluggy.HookimplMarker("benchsuite")

__all__ = [
    "FAMILIES", "KERNELS", "MODALITIES", "Availability", "Backend", "BenchsuiteError", "CompressionMethod", "Metric",
    "MethodContext", "Param", "Task", "TaskInfo", "Unsupported", "hookimpl", "load_plugins", "load_results", "run",
]

if TYPE_CHECKING:
    from .plugins import load_plugins
    from .runner import run
    from .store import load_results

_LAZY = {"load_plugins": "plugins", "load_results": "store", "run": "runner"}


def __getattr__(name: str) -> Any:  # heavy modules (pandas, torch) load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'benchsuite' has no attribute {name!r}")
