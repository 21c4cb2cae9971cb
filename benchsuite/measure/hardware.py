"""The machine and software a result was measured on (provenance columns)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from functools import cache, lru_cache
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


def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


#: CPU features (Linux /proc/cpuinfo flag names) that give each of KERNELS a native CPU path in PyTorch
CPU_KERNEL_FEATURES = {
    "fp16": ("avx512_fp16", "amx_fp16"),
    "bf16": ("avx512_bf16", "amx_bf16"),
    "int8-matmul": ("avx512_vnni", "avx_vnni", "amx_int8"),
}


@cache
def native_cpu_kernels() -> frozenset[str]:
    """The KERNELS this CPU runs natively; without the features in CPU_KERNEL_FEATURES PyTorch emulates them."""
    import torch

    flags = set(_cpu_flags())
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_fp16": "_is_amx_fp16_supported",
              "amx_int8": "_is_amx_tile_supported", "avx512_vnni": "_is_vnni_supported"}
    for flag, probe in probes.items():  # torch's own checks also work where /proc/cpuinfo does not exist
        try:
            if getattr(torch.cpu, probe)():
                flags.add(flag)
        except Exception:
            pass
    return frozenset(k for k, features in CPU_KERNEL_FEATURES.items() if flags & set(features))


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
    info = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count() or 0,
        "ram_bytes": _ram_bytes(),
        "os": platform.platform(),
        "gpu": gpu,
    }
    return {**info, "hardware_fingerprint": hardware_fingerprint(**info)}


def hardware_fingerprint(cpu_model: str, cpu_cores: int, ram_bytes: int, gpu: str, os: str) -> str:
    """A stable 12-hex-digit hash of the machine columns, to group results measured on comparable hardware.

    RAM is rounded to whole GiB, so that the few MiB a kernel reserves differently do not split one machine.
    """
    key = json.dumps([str(cpu_model), int(cpu_cores), round(int(ram_bytes) / 2**30), str(gpu or ""), str(os)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@cache
def software_info() -> dict[str, str]:
    """Versions of the libraries a result depends on."""
    return {
        "python_version": platform.python_version(),
        "torch_version": _version("torch"),
        "transformers_version": _version("transformers"),
        "benchsuite_version": _version("benchsuite"),
    }


@lru_cache(maxsize=1)
def benchsuite_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("benchsuite")
    except PackageNotFoundError:
        return "unknown"
