"""Per-worker limits (wall time per phase, resident memory) and their command-line spellings. Imports no torch."""

from __future__ import annotations

import os
from dataclasses import dataclass

from benchsuite.errors import UsageError

DEFAULT_TIME_LIMIT_SECONDS = 1800.0


#: share of the machine's physical memory a worker may hold by default
DEFAULT_MEMORY_FRACTION = 0.75


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


@dataclass(frozen=True)
class Limits:
    """Per-worker limits. `time_limit_seconds` bounds each phase (task setup, compression, each backend's
    measurement); `memory_limit_bytes` bounds the resident memory of the worker and its children together."""

    time_limit_seconds: float = DEFAULT_TIME_LIMIT_SECONDS
    memory_limit_bytes: int = 0  # 0: DEFAULT_MEMORY_FRACTION of physical memory

    def __post_init__(self) -> None:
        if not self.time_limit_seconds > 0:
            raise UsageError(f"time limit {self.time_limit_seconds:g} s is not > 0; give seconds, e.g. 1800")
        if self.memory_limit_bytes < 0:
            raise UsageError(f"memory limit {self.memory_limit_bytes} bytes is negative; give e.g. 8GiB")
        if not self.memory_limit_bytes:
            object.__setattr__(self, "memory_limit_bytes", int(physical_memory_bytes() * DEFAULT_MEMORY_FRACTION))


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4, "tb": 1000**4, "tib": 1024**4}


def parse_memory(text: str) -> int:
    """``8GiB``, ``512MB``, ``2g`` or a byte count -> bytes."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise UsageError(f"--memory-limit got {text!r}; give a size like 8GiB, 512MiB or 2000000000")
    return int(float(match.group(1)) * _UNITS[unit])


def limits_of(time_limit_seconds: float | None, memory_limit: str | int | None) -> Limits:
    """The worker limits from the command line's spelling (`--time-limit 600 --memory-limit 8GiB`); a memory
    limit given as an int is bytes (`benchsuite.run(memory_limit_bytes=...)`)."""
    if time_limit_seconds is not None and not time_limit_seconds > 0:
        raise UsageError(f"--time-limit got {time_limit_seconds:g}; give the seconds a phase may take, e.g. 1800")
    return Limits(time_limit_seconds or DEFAULT_TIME_LIMIT_SECONDS,
                  memory_limit if isinstance(memory_limit, int) else
                  parse_memory(memory_limit) if memory_limit is not None else 0)
