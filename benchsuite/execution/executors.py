"""The executors: `LocalExecutor` runs the cells of a grid one after another on this machine (in worker
subprocesses, or here with ``--isolate none``); dask_cluster.py's `DaskExecutor` runs them on a Dask cluster.
`make_executor` picks one. The grid (grid/orchestration.py) owns the rows and the store; an executor only
returns outcomes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from benchsuite.execution.isolation import InProcess
from benchsuite.execution.limits import Limits
from benchsuite.execution.work import (EXECUTORS, Executor, Finished, Work, check_options, machine_columns,
                                       run_cell)

# the executor's vocabulary is importable from here, where the executors are
__all__ = ["EXECUTORS", "Executor", "Finished", "LocalExecutor", "Work", "check_options", "machine_columns",
           "make_executor", "run_cell"]


class LocalExecutor:
    """Cells one after another, each in a worker subprocess (or here with ``--isolate none``)."""

    name = "local"

    def __init__(self, limits: Limits, isolate: str, plugins: Any = None,
                 bar: Callable[[str, int], Any] | None = None) -> None:
        self.limits, self.isolate = limits, isolate
        if isolate == "none" and plugins is None:
            raise ValueError("--isolate none runs cells with this process's plugins: pass them")
        #: ``--isolate none``: the cells run here, with `plugins`
        self.in_process = InProcess(plugins, bar) if isolate == "none" else None

    def machine(self) -> dict[str, Any]:
        return machine_columns()

    def run(self, work: Sequence[Work]) -> Iterator[Finished]:
        """In grid order, which puts each task's baseline first."""
        for index, item in enumerate(work):
            yield Finished(index, self.in_process.run(item.job) if self.in_process is not None else
                           run_cell(item.job, self.limits, self.isolate))

    def close(self) -> None:
        pass


def make_executor(name: str, limits: Limits, isolate: str, scheduler: str | None = None,
                  workers: int | None = None, progress: bool = True, plugins: Any = None) -> Executor:
    """The executor the command line asked for (`plugins`: this process's, for ``--isolate none``)."""
    check_options(name, isolate, scheduler, workers)
    if name == "local":
        return LocalExecutor(limits, isolate, plugins)
    from benchsuite.execution.dask_cluster import DaskExecutor

    return DaskExecutor(limits, isolate, scheduler, workers, progress)
