"""Executors run the cells of a grid and yield each as it finishes: `LocalExecutor` one after another on this
machine (in worker subprocesses, or here with ``--isolate none``); dask_cluster.py's `DaskExecutor` on a Dask
cluster. The grid (grid/orchestration.py) owns the rows and the store; an executor only returns outcomes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from benchsuite.errors import UsageError
from benchsuite.execution.isolation import InProcess, run_isolated
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.limits import Limits

EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class Work:
    """One cell to run: its job, a label for progress lines, and its priority."""

    job: CellJob
    label: str
    #: baselines first: the rows of a task's other cells need its baseline
    priority: int = 0


@dataclass(frozen=True)
class Finished:
    """A finished cell: the outcome per backend, and the machine that ran it (None: this machine)."""

    index: int
    outcomes: list[Outcome]
    machine: Mapping[str, Any] | None = None


class Executor(Protocol):
    """Runs cells and yields each as it finishes (any order); the runner owns the rows and the store."""

    name: str

    def machine(self) -> dict[str, Any]:
        """The hardware and software columns of the machines that will run the cells."""

    def run(self, work: Sequence[Work]) -> Iterator[Finished]:
        """Run every cell of `work`; yield a Finished (its index in `work`) as each one ends."""

    def close(self) -> None:
        """Release the cluster (an executor the runner did not make is closed by its maker)."""


def machine_columns() -> dict[str, Any]:
    """The hardware and software columns of the machine this runs on."""
    from benchsuite.measure.hardware import machine_info, software_info

    return {**machine_info(), **software_info()}


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


def run_cell(job: CellJob, limits: Limits, isolate: str, env: Mapping[str, str] | None = None) -> list[Outcome]:
    """A cell in one worker subprocess (``cell``) or one per backend (``run``)."""
    if isolate == "run":
        return [run_isolated(dataclasses.replace(job, backends=(b,)), limits, env)[0] for b in job.backends]
    return run_isolated(job, limits, env)


def check_options(name: str, isolate: str, scheduler: str | None = None, workers: int | None = None) -> None:
    """Refuse executor options that do not go together (before anything is loaded or started)."""
    if name not in EXECUTORS:
        raise UsageError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")
    if name == "local" and (scheduler or workers is not None):
        raise UsageError("--scheduler and --workers need --executor dask")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers got {workers}; give the number of Dask workers, e.g. --workers 2")
    if name == "dask" and isolate == "none":
        raise UsageError("--isolate none runs cells inside the Dask worker, where a crash kills the worker; "
                         "with --executor dask use --isolate cell or run")


def make_executor(name: str, limits: Limits, isolate: str, scheduler: str | None = None,
                  workers: int | None = None, progress: bool = True, plugins: Any = None) -> Executor:
    """The executor the command line asked for (`plugins`: this process's, for ``--isolate none``)."""
    check_options(name, isolate, scheduler, workers)
    if name == "local":
        return LocalExecutor(limits, isolate, plugins)
    from benchsuite.execution.dask_cluster import DaskExecutor

    return DaskExecutor(limits, isolate, scheduler, workers, progress)
