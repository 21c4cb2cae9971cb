"""benchsuite: accuracy and realized speed, size and memory of compressed models, measured in one record.

Plugin authors need only::

    from benchsuite import hookimpl, CompressionMethod, Param

Importing this package loads no plugins and does not import torch; `load_plugins()` does the discovery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from benchsuite import _moved
from benchsuite.errors import BenchsuiteError, Unsupported
from benchsuite.sdk.interfaces import (
    FAMILIES,
    KERNELS,
    MODALITIES,
    Availability,
    Backend,
    CompressionMethod,
    Generation,
    MethodContext,
    Metric,
    Task,
    TaskInfo,
)
from benchsuite.sdk.params import Param

hookimpl = pluggy.HookimplMarker("benchsuite")

_moved.install()  # plugins written for the flat layout still import benchsuite.training and the like

__all__ = [
    "FAMILIES", "KERNELS", "MODALITIES", "Availability", "Backend", "BenchsuiteError", "CompressionMethod", "Generation", "Metric",
    "MethodContext", "Param", "Task", "TaskInfo", "Unsupported", "hookimpl", "load_plugins", "load_results", "run",
]

if TYPE_CHECKING:
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.grid.api import run
    from benchsuite.results.store import load_results

_LAZY = {"load_plugins": "discovery.loader", "load_results": "results.store", "run": "grid.api"}


def __getattr__(name: str) -> Any:  # heavy modules (pandas, torch) load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'benchsuite' has no attribute {name!r}")
