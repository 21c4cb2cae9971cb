"""What an executor is given and gives back (Work, Finished), the Executor protocol, and what every executor
shares: running one cell under isolation (`run_cell`), the machine's columns, the option checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from benchsuite.errors import UsageError
from benchsuite.execution.isolation import run_isolated
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.limits import Limits
from benchsuite.execution.passes import time_in_more_processes

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


def run_cell(job: CellJob, limits: Limits, isolate: str, env: Mapping[str, str] | None = None) -> list[Outcome]:
    """A cell in one worker subprocess (``cell``) or one per backend (``run``), then its timing in
    `job.timing_processes` - 1 more workers, pooled (passes.py)."""
    def run(job: CellJob) -> list[Outcome]:
        if isolate == "run":
            return [run_isolated(dataclasses.replace(job, backends=(b,)), limits, env)[0] for b in job.backends]
        return run_isolated(job, limits, env)

    return time_in_more_processes(job, run(job), run)


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
