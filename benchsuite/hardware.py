"""The machine and software a result was measured on (provenance columns)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from functools import cache
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


@cache
def machine_info() -> dict[str, Any]:
    """Hardware and OS columns; GPU only if torch sees one."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count() or 0,
        "ram_bytes": _ram_bytes(),
        "os": platform.platform(),
        "gpu": gpu,
    }


@cache
def software_info() -> dict[str, str]:
    """Versions of the libraries a result depends on."""
    return {
        "python_version": platform.python_version(),
        "torch_version": _version("torch"),
        "transformers_version": _version("transformers"),
        "benchsuite_version": _version("benchsuite"),
    }
