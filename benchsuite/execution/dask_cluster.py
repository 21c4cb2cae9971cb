"""TODO docstring (executors.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from benchsuite.errors import UsageError
from benchsuite.execution.daskquiet import QUIET, YAML, louder, worker_settings
from benchsuite.execution.executors import (
    Finished,
    Work,
    check_options,
    machine_columns,
    run_cell,
)
from benchsuite.execution.job import CellJob, Outcome, one_line
from benchsuite.execution.limits import Limits

DEFAULT_DASK_WORKERS = 2
PROGRESS_TOPIC = "benchsuite-progress"
#: seconds to wait for an existing cluster's scheduler to answer
CONNECT_TIMEOUT_SECONDS = 10
#: seconds to wait for the workers of an existing cluster
WAIT_FOR_WORKERS_SECONDS = 120.0



# ---- Dask -------------------------------------------------------------------------------------------------
def _subprocess_env() -> dict[str, str]:
    """This Dask worker's environment minus the thread caps its nanny set (OMP_NUM_THREADS=1 and the like): the
    cell's worker should use the threads a local run uses. A backend's `threads` parameter fixes them explicitly."""
    import dask

    nanny = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {k: v for k, v in os.environ.items()
            if not (k in nanny and k.endswith("_NUM_THREADS") and str(nanny[k]) == v)}


def dask_cell(job_json: str, limits: Limits, isolate: str, label: str) -> dict[str, Any]:
    """The Dask task: run one cell on this Dask worker's machine; outcomes as dicts, plus the machine's columns."""
    try:
        from distributed import get_worker

        get_worker().log_event(PROGRESS_TOPIC, {"started": label})
    except Exception:  # progress is best effort
        pass
    outcomes = run_cell(CellJob.from_json(job_json), limits, isolate, _subprocess_env())
    return {"outcomes": [dataclasses.asdict(o) for o in outcomes], "machine": machine_columns()}


@contextlib.contextmanager
def _environ_kept() -> Iterator[None]:
    """Restore this process's environment afterwards: starting a LocalCluster sets OMP_NUM_THREADS=1 (and MKL's
    and OpenBLAS's) in the client's own os.environ, which every process it starts later (a local cell worker,
    a later run in the same Python session) would inherit."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)


def _worker_facts() -> dict[str, Any]:
    from benchsuite.measure.hardware import benchsuite_version

    return {"benchsuite_version": benchsuite_version(), **machine_columns()}


class DaskExecutor:
    """Cells as Dask tasks on an existing cluster (`scheduler`) or on a LocalCluster of `workers` processes."""

    name = "dask"

    def __init__(self, limits: Limits, isolate: str, scheduler: str | None = None,
                 workers: int | None = None, progress: bool = True,
                 warn: Callable[[str], None] = lambda message: print(f"benchsuite: warning: {message}",
                                                                      file=sys.stderr)) -> None:
        check_options("dask", isolate, scheduler, workers)
        try:
            import distributed
        except ImportError:
            raise UsageError("--executor dask needs dask.distributed: pip install 'distributed>=2024.1'") from None
        import logging

        import dask

        self.limits, self.isolate, self.progress = limits, isolate, progress
        self.cluster = None
        if scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {scheduler} ({one_line(exc)}); start it with "
                                 "`dask scheduler`, or leave out --scheduler for a local cluster") from None
            if workers:
                try:
                    self.client.wait_for_workers(workers, timeout=WAIT_FOR_WORKERS_SECONDS)
                except (TimeoutError, distributed.TimeoutError):
                    have = len(self.client.scheduler_info()["workers"])
                    self.client.close()
                    raise UsageError(f"the Dask cluster at {scheduler} has {have} workers, not the {workers} asked "
                                     f"for, after {WAIT_FOR_WORKERS_SECONDS:.0f} s; start more workers or lower "
                                     "--workers") from None
        else:
            # one thread per worker: a worker runs one cell at a time. No memory limit of Dask's own: each
            # cell's worker subprocess runs under benchsuite's --memory-limit.
            # Dask's profiler and 20 ms ticks turned down (daskquiet.py): they ran beside every timing phase
            count = workers or DEFAULT_DASK_WORKERS
            with _environ_kept(), dask.config.set(QUIET):
                try:
                    self.cluster = distributed.LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                                            memory_limit=0, dashboard_address=":0",
                                                            silence_logs=logging.ERROR)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise UsageError(f"could not start a local Dask cluster of {count} workers ({one_line(exc)}); "
                                     "check free memory and processes, or start the workers yourself (`dask "
                                     "scheduler`, `dask worker ADDRESS`) and pass --scheduler ADDRESS") from None
                self.client = distributed.Client(self.cluster)
        self._facts = self._check_workers(warn)
        #: a LocalCluster's workers share this machine: each compresses on its share of the cores (two workers
        #: compressing with every core each made the accuracy-only suite slower than one worker here)
        self.compress_threads = max(1, (os.cpu_count() or 1) // self.worker_count) if self.cluster else 0
        try:
            self.allowed_failures = int(self.client.run_on_scheduler(_allowed_failures))
        except Exception:  # a scheduler that does not allow it: the client's configuration
            import dask

            self.allowed_failures = int(dask.config.get("distributed.scheduler.allowed-failures", default=3))

    def _check_workers(self, warn: Callable[[str], None]) -> dict[str, Any]:
        """Every worker's facts; refuses a cluster of mixed benchsuite versions or hardware, and warns about
        workers whose Dask monitors would run beside the timing (daskquiet.py)."""
        from benchsuite.measure.hardware import benchsuite_version

        facts = self.client.run(_worker_facts)
        if not facts:
            self.close()
            raise UsageError("the Dask cluster has no workers; start some (`dask worker ADDRESS`) or pass --workers")
        versions = {f["benchsuite_version"] for f in facts.values()}
        if versions != {benchsuite_version()}:
            self.close()
            raise UsageError(f"Dask workers run benchsuite {', '.join(sorted(versions))}, this client "
                             f"{benchsuite_version()}; install the same benchsuite (and plugins) on every worker")
        fingerprints = {f["hardware_fingerprint"] for f in facts.values()}
        if len(fingerprints) > 1:
            self.close()
            raise UsageError(f"the Dask workers are {len(fingerprints)} kinds of machine (hardware fingerprints "
                             f"{', '.join(sorted(fingerprints))}); speedups compare with a baseline on the same "
                             "hardware, so run one grid per kind of machine")
        loud = {" ".join(louder(settings)) for settings in self.client.run(worker_settings).values()} - {""}
        if loud:
            warn(f"the Dask workers run {'; '.join(sorted(loud))}: Dask's monitors will run beside every timing "
                 f"phase; start the workers with DASK_CONFIG={YAML} (README, \"Existing clusters\")")
        return next(iter(facts.values()))

    @property
    def dashboard(self) -> str:
        """The Dask dashboard's address (progress per worker), or why there is none."""
        try:
            return self.client.dashboard_link or "none"
        except Exception:
            return "none (pip install bokeh for one)"

    @property
    def worker_count(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def machine(self) -> dict[str, Any]:
        return {k: v for k, v in self._facts.items() if k != "benchsuite_version"}

    def run(self, work: Sequence[Work]) -> Iterator[Finished]:
        from distributed import as_completed

        if not work:
            return
        status = _JobStatus(len(work), self.progress)
        try:
            self.client.subscribe_topic(PROGRESS_TOPIC, status.started)
        except Exception:
            pass
        futures = {}
        for index, item in enumerate(work):
            job = dataclasses.replace(item.job, compress_threads=self.compress_threads)
            future = self.client.submit(dask_cell, job.to_json(), self.limits, self.isolate, item.label,
                                        key=f"benchsuite-cell-{index}-{os.urandom(4).hex()}", pure=False,
                                        priority=item.priority)
            future.add_done_callback(status.ended_callback(item.label))
            futures[future] = index
        for future in as_completed(list(futures)):
            index = futures[future]
            try:
                result = future.result()
                outcomes = [Outcome(**o) for o in result["outcomes"]]
                machine = result["machine"]
            except Exception as exc:
                outcomes = [_lost(exc, work[index], self.allowed_failures)] * len(work[index].job.backends)
                machine = None
            status.finished(work[index].label, outcomes)
            yield Finished(index, outcomes, machine)
            future.release()

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _allowed_failures(dask_scheduler: Any) -> int:
    return int(dask_scheduler.allowed_failures)


def _lost(exc: BaseException, item: Work, allowed_failures: int) -> Outcome:
    """The outcome of a cell that Dask could not run to the end."""
    name = type(exc).__name__
    if name == "KilledWorker":
        tries = allowed_failures + 1
        times = f"{tries} times (the cell was retried each time)" if tries > 1 else "once (no retries allowed)"
        return Outcome("crashed", f"the Dask workers running this cell died {times}; check the workers' logs "
                                  "and memory",
                       traceback=str(exc))
    if name in ("CancelledError", "FutureCancelledError"):
        return Outcome("failed", "the Dask scheduler cancelled this cell (the cluster shut down or lost the client)",
                       traceback=str(exc))
    return Outcome("failed", f"the Dask task failed: {one_line(exc)}", traceback=str(exc))


class _JobStatus:
    """Counts cells done, running and failed, and prints a line as they change (stderr).

    Dask reports a cell's start (a worker event) and its end (the future's callback) on its own threads."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.running: set[str] = set()
        self.ended: set[str] = set()
        self.failed = 0
        self.lock = threading.Lock()
        self.last_print = 0.0

    def started(self, event: Any) -> None:
        """A Dask worker began a cell (again, when it is retried after a worker died)."""
        label = event[1].get("started") if isinstance(event, tuple) and isinstance(event[1], dict) else None
        with self.lock:
            if label is None or label in self.ended:
                return
            self.running.add(label)
            self._print(force=False)

    def ended_callback(self, label: str) -> Callable[[Any], None]:
        def ended(_future: Any) -> None:
            with self.lock:
                self._end(label)
        return ended

    def _end(self, label: str) -> None:
        self.running.discard(label)
        self.ended.add(label)

    def finished(self, label: str, outcomes: Sequence[Outcome]) -> None:
        with self.lock:
            self._end(label)  # the done callback may not have run yet
            if any(o.status not in ("ok", "skipped") for o in outcomes):
                self.failed += 1
            self._print(force=True)

    def _print(self, force: bool) -> None:
        if not self.enabled or (not force and time.monotonic() - self.last_print < 1.0):
            return
        self.last_print = time.monotonic()
        done, running = len(self.ended), len(self.running)
        print(f"benchsuite: dask jobs: {done}/{self.total} done, {running} running, {self.failed} failed, "
              f"{self.total - done - running} queued", file=sys.stderr, flush=True)
