"""The machine's memory bandwidth, measured once per machine (STREAM-style triad, measure/generation.py) and kept
in the cache folder by hardware fingerprint, so that every generative row of the machine uses the same figure
for its bandwidth floor. Measured while the caller holds the host's timing lock."""

from __future__ import annotations

import json
import os
from functools import cache

from benchsuite.measure.generation import memory_bandwidth
from benchsuite.measure.hardware import machine_info
from benchsuite.sdk.paths import cache_dir


@cache
def machine_bandwidth() -> float:
    """Bytes/s of this machine's memory (the cached measurement, else a new one, stored)."""
    fingerprint = machine_info()["hardware_fingerprint"]
    path = cache_dir() / "machine" / f"bandwidth-{fingerprint}.json"
    try:
        value = float(json.loads(path.read_text(encoding="utf-8"))["bytes_per_s"])
        if value > 0:
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not measured yet on this machine, or an unreadable file: measure again
    value = memory_bandwidth()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"bytes_per_s": value, "method": "triad a = b + 3c, float32, 3 x 256 MiB, best of 5"}),
                   encoding="utf-8")
    tmp.replace(path)
    return value
