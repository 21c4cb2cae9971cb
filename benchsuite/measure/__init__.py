"""Measuring a model: timing (policy, harness self-check), evaluation, counts and FLOPs, statistics, hardware.

Nothing here imports the execution layer; the helpers plugins used to import from the flat ``benchsuite.measure``
(``accuracy``, ``macro_f1``, ``count_flops``, ...) are still served from here, lazily, at their new homes.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"accuracy": "benchsuite.sdk.metrics", "macro_f1": "benchsuite.sdk.metrics",
          "peak_cpu_memory_bytes": "benchsuite.sdk.memory", "resident_tensor_bytes": "benchsuite.sdk.memory",
          "count_flops": "benchsuite.measure.counts", "count_params": "benchsuite.measure.counts",
          "mean_flops": "benchsuite.measure.counts", "serialized_size_bytes": "benchsuite.measure.counts",
          "serialized_weights": "benchsuite.measure.counts", "evaluate": "benchsuite.measure.evaluation",
          "time_latency": "benchsuite.measure.timing", "TimingPolicy": "benchsuite.measure.policy"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'benchsuite.measure' has no attribute {name!r}")
