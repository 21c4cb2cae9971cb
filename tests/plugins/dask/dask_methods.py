"""Methods for the Dask executor's tests (tests/test_dask.py): a slow one that logs each compression, and one that
kills the Dask worker running it."""

import os
import signal
import time

import torch

from benchsuite import CompressionMethod, Param, hookimpl

#: each apply() appends "<tag> <torch threads>" (slow-halve) or "kill" (kills-dask-worker) to this file (when set),
#: so tests can count compressions
APPLY_LOG = "BENCHSUITE_TEST_APPLY_LOG"


class SlowHalve(CompressionMethod):
    name = "slow-halve"
    family = "other"
    parameters = (Param("seconds", float, 1.0, "seconds to spend compressing", min=0.0),
                  Param("tag", int, 0, "makes distinct configurations", min=0))

    def apply(self, model, context):
        if os.environ.get(APPLY_LOG):
            with open(os.environ[APPLY_LOG], "a") as fh:
                fh.write(f"{self.params['tag']} {torch.get_num_threads()}\n")
        time.sleep(self.params["seconds"])
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(0.5)
        return model


class KillsDaskWorker(CompressionMethod):
    name = "kills-dask-worker"
    family = "other"

    def apply(self, model, context):
        if os.environ.get(APPLY_LOG):
            with open(os.environ[APPLY_LOG], "a") as fh:
                fh.write("kill\n")
        os.kill(os.getppid(), signal.SIGKILL)  # the cell's worker subprocess's parent: the Dask worker
        time.sleep(60)
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(SlowHalve)
    register(KillsDaskWorker)
