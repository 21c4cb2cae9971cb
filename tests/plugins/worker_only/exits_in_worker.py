"""A plugin that loads in the parent but exits when a benchsuite worker process imports it."""

import sys

from benchsuite import CompressionMethod, hookimpl

main = sys.modules.get("__main__")
if getattr(getattr(main, "__spec__", None), "name", "") == "benchsuite.execution.worker":
    sys.exit(5)


class WorkerShy(CompressionMethod):
    name = "toy-worker-shy"

    def apply(self, model, context):
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(WorkerShy)
