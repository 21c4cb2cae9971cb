"""Fault-injection methods: each misbehaves in one way a third-party plugin might. Used by tests/test_faults.py.

The faults fire in the worker process that runs the plugin; benchsuite must record each as a row and go on.
"""

import ctypes
import os
import time

import torch
from torch import nn

from benchsuite import CompressionMethod, hookimpl


class Raises(CompressionMethod):
    name = "fault-raises"

    def apply(self, model, context):
        raise ValueError("injected failure in apply")


class ImportsMissing(CompressionMethod):
    name = "fault-import-error"

    def apply(self, model, context):
        import benchsuite_no_such_module  # noqa: F401

        return model


class HangsCompressing(CompressionMethod):
    name = "fault-hang"

    def apply(self, model, context):
        while True:  # a hang that never yields: only a kill ends it
            time.sleep(0.05)


class Segfaults(CompressionMethod):
    name = "fault-segfault"

    def apply(self, model, context):
        ctypes.string_at(0)  # reads address 0: SIGSEGV
        return model


class Aborts(CompressionMethod):
    name = "fault-abort"

    def apply(self, model, context):
        os.abort()


class Exits(CompressionMethod):
    name = "fault-exit"

    def apply(self, model, context):
        raise SystemExit(3)  # a plugin calling sys.exit() must not end the grid either


class HogsMemory(CompressionMethod):
    name = "fault-memory"

    def apply(self, model, context):
        hog = torch.ones(4 * 2**30 // 4)  # 4 GiB, touched, held while the watchdog looks
        while True:
            time.sleep(0.05)
            hog[::4096] += 1


class WrongType(CompressionMethod):
    name = "fault-wrong-type"

    def apply(self, model, context):
        return {"state_dict": model.state_dict()}


class _MisbehavesWhenTimed(nn.Module):
    """Behaves during the evaluation (about 15 calls of the toy task); misbehaves from call 41, in the timing loop."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x) if self.calls <= 40 else self.misbehave(x)


class _HangsWhenTimed(_MisbehavesWhenTimed):
    def misbehave(self, x):
        while True:
            time.sleep(0.05)


class _CheatsWhenTimed(_MisbehavesWhenTimed):
    """Returns zeros once it is being timed: fast, and wrong."""

    def misbehave(self, x):
        return torch.zeros(x.shape[0], 3)


class HangsMeasuring(CompressionMethod):
    name = "fault-hang-measuring"

    def apply(self, model, context):
        return _HangsWhenTimed(model)


class CheatsWhenTimed(CompressionMethod):
    name = "fault-cheats-timing"

    def apply(self, model, context):
        return _CheatsWhenTimed(model)


class _SegfaultsOnOneThread(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        if torch.get_num_threads() == 1:  # only on the backend configured with threads=1
            ctypes.string_at(0)
        return self.inner(x)


class SegfaultsOnOneBackend(CompressionMethod):
    name = "fault-segfault-one-backend"

    def apply(self, model, context):
        return _SegfaultsOnOneThread(model)


@hookimpl
def benchsuite_register_methods(register):
    for cls in (Raises, ImportsMissing, HangsCompressing, Segfaults, Aborts, Exits, HogsMemory, WrongType,
                HangsMeasuring, CheatsWhenTimed, SegfaultsOnOneBackend):
        register(cls)
