"""The Dask executor: one Dask task per cell, on a LocalCluster of this machine or on an existing cluster.

Inside its Dask task each cell runs in a benchsuite worker subprocess (isolation.py): a cell that segfaults,
leaks or hangs costs its own row, never the Dask worker. A Dask worker dies only from outside (an operator, the
OOM killer, a lost machine) or from a cell that kills its parent. Dask's own rule (`allowed-failures`) counts a
death against every task the dead worker held, queued ones too, so in CI an innocent cell ended `crashed`: it
had been on a worker killed from outside, then queued on a worker another cell killed. benchsuite keeps its own
ledger (`Blame`) and decides by this rule:

- The *suspects* of a death are the cells running on the worker when it died: their task had started there (its
  first act is a ``started`` event naming the worker) and not finished. A cell queued there is no suspect.
- A death is *charged* to its suspects in equal shares: a cell running alone (as on benchsuite's LocalCluster and
  the recommended ``--nthreads 1`` workers) takes the whole death, k cells side by side 1/k each. A worker that
  left on purpose (retired, scaled down) is charged to nobody.
- A cell whose charges reach ``allowed-failures + 1`` ends `crashed`; every other cell of a dead worker is
  submitted again, with its priority. A safeguard bounds what charges miss: a cell on `LOSS_FACTOR` ×
  (allowed-failures + 1) dead workers in all, charged or not, ends crashed too.

So a cell that kills every worker it runs on ends crashed after exactly allowed-failures + 1 deaths, whatever was
queued with it, and an innocent cell only if workers die under it that often while it runs alone, which no one
could tell from a cell that kills its workers. The deaths come from the scheduler's ``remove-worker`` events,
which reach the client before the lost tasks' errors. benchsuite's LocalCluster retries nothing by itself (its
scheduler's allowed-failures is 0), so each death reaches the client at once. An existing cluster's scheduler is
left as its owner set it: Dask retries a task there by itself up to its allowed-failures, the deaths are charged
all the same, and benchsuite takes over when Dask gives up (a cell that kills its workers may then take a few
more with it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from typing import Any

from benchsuite.errors import UsageError, one_line
from benchsuite.execution.daskquiet import QUIET, YAML, louder, worker_settings
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.limits import Limits
from benchsuite.execution.work import Finished, Work, check_options, machine_columns, run_cell

DEFAULT_DASK_WORKERS = 2
PROGRESS_TOPIC = "benchsuite-progress"
#: seconds to wait for an existing cluster's scheduler to answer
CONNECT_TIMEOUT_SECONDS = 10
#: seconds to wait for the workers of an existing cluster
WAIT_FOR_WORKERS_SECONDS = 120.0
#: a cell on this many times (allowed-failures + 1) dead workers, charged or not, ends crashed
LOSS_FACTOR = 3


def _subprocess_env() -> dict[str, str]:
    """This Dask worker's environment minus the thread caps its nanny set (OMP_NUM_THREADS=1 and the like): the
    cell's worker should use the threads a local run uses. A backend's `threads` parameter fixes them explicitly."""
    import dask

    nanny = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {k: v for k, v in os.environ.items()
            if not (k in nanny and k.endswith("_NUM_THREADS") and str(nanny[k]) == v)}


def dask_cell(job_json: str, limits: Limits, isolate: str, label: str, key: str = "") -> dict[str, Any]:
    """The Dask task: run one cell on this Dask worker's machine; outcomes as dicts, plus the machine's columns.
    Its first act names the worker it runs on (progress, and the suspects of the worker's death)."""
    try:
        from distributed import get_worker

        get_worker().log_event(PROGRESS_TOPIC, {"started": label, "key": key, "worker": get_worker().address})
    except Exception:  # best effort: a death with no suspect is charged to nobody
        pass
    outcomes = run_cell(CellJob.from_json(job_json), limits, isolate, _subprocess_env())
    return {"outcomes": [dataclasses.asdict(o) for o in outcomes], "machine": machine_columns()}


@dataclasses.dataclass
class _Charges:
    share: Fraction = Fraction(0)  # the deaths charged to the cell (see the module docstring)
    deaths: int = 0  # deaths of workers it was running on
    beside: int = 0  # ... of which with other cells running beside it
    losses: int = 0  # deaths of workers it was on, running or queued


class Blame:
    """The ledger of the module docstring's rule: which cells each dead Dask worker was running, and each cell's
    verdict. Fed by the client's event thread (`started`, `worker_died`), read by the run loop (`verdict`)."""

    def __init__(self, allowed_failures: int) -> None:
        self.limit = allowed_failures + 1
        self._lock = threading.Lock()
        self._cell: dict[str, int] = {}  # task key -> cell index
        self._running: dict[str, str] = {}  # task key -> the worker it started on, until it ends or is lost
        self._counted: set[tuple[str, str]] = set()  # (worker, task key): losses already in the ledger
        self.charges: dict[int, _Charges] = {}

    def submitted(self, key: str, index: int) -> None:
        with self._lock:
            self._cell[key] = index
            self.charges.setdefault(index, _Charges())

    def started(self, key: str, worker: str) -> None:
        with self._lock:
            if key in self._cell:
                self._running[key] = worker

    def ended(self, key: str) -> None:
        with self._lock:
            self._cell.pop(key, None)
            self._running.pop(key, None)

    def worker_died(self, worker: str, keys: Iterable[str], expected: bool = False) -> None:
        """`worker` died holding the tasks `keys` (the scheduler's processing set: running or queued there)."""
        with self._lock:
            lost = [k for k in keys if k in self._cell and (worker, k) not in self._counted]
            suspects = [k for k in lost if self._running.get(k) == worker]
            for key in lost:
                self._counted.add((worker, key))
                self._running.pop(key, None)
                if expected:
                    continue
                charges = self.charges[self._cell[key]]
                charges.losses += 1
                if key in suspects:
                    charges.share += Fraction(1, len(suspects))
                    charges.deaths += 1
                    charges.beside += len(suspects) > 1

    def killed(self, key: str, worker: str | None) -> None:
        """Dask gave up on `key` when `worker` died; a death its event did not bring in is counted here."""
        if worker is not None:
            with self._lock:
                others = [k for k, w in self._running.items() if w == worker and k != key]
            self.worker_died(worker, [key, *others])

    def verdict(self, index: int) -> str | None:
        """Why cell `index` ends crashed, or None: submit it again."""
        c = self.charges[index]  # the event thread has counted the death that brought the verdict here
        if c.share >= self.limit:
            beside = f"{c.beside} of them with other cells running beside it; " if c.beside else ""
            times = f"{c.deaths} times ({beside}the cell was retried each time)" if c.deaths > 1 else \
                "once (no retries allowed)"
            return f"the Dask workers running this cell died {times}; check the workers' logs and memory"
        if c.losses >= LOSS_FACTOR * self.limit:
            return (f"the Dask workers holding this cell died {c.losses} times ({c.deaths} while it ran), more than "
                    f"{LOSS_FACTOR * self.limit - 1} in all; check the workers' logs and memory")
        return None

    def on_event(self, event: Any) -> None:
        """A scheduler event: `started` (topic PROGRESS_TOPIC) or a death (``remove-worker``, topic "all")."""
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 and isinstance(event[1], dict) else {}
        if msg.get("key") and msg.get("worker"):
            self.started(msg["key"], msg["worker"])
        elif msg.get("action") == "remove-worker" and "processing-tasks" in msg:
            self.worker_died(msg["worker"], [str(k) for k in msg["processing-tasks"]], bool(msg.get("expected")))


def _not_a_death_notice(record: logging.LogRecord) -> bool:
    """Drops the scheduler's "Task ... marked as failed because N workers died" (benchsuite decides, and says)."""
    return "workers died while trying to run it" not in str(record.msg)


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
        import dask

        self.limits, self.isolate, self.progress, self.cluster = limits, isolate, progress, None
        #: deaths a cell may be charged before it ends crashed, less one (see the module docstring)
        self.allowed_failures = int(dask.config.get("distributed.scheduler.allowed-failures", default=3))
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
            with contextlib.suppress(Exception):  # a scheduler that does not allow it: the client's configuration
                self.allowed_failures = int(self.client.run_on_scheduler(lambda dask_scheduler:
                                                                         dask_scheduler.allowed_failures))
        else:
            # one thread per worker: a worker runs one cell at a time. No memory limit of Dask's own: each
            # cell's worker subprocess runs under benchsuite's --memory-limit. The scheduler retries nothing by
            # itself: benchsuite resubmits the cells of a dead worker (the module docstring).
            # Dask's profiler and 20 ms ticks turned down (daskquiet.py): they ran beside every timing phase
            count = workers or DEFAULT_DASK_WORKERS
            with _environ_kept(), dask.config.set(QUIET):
                try:
                    self.cluster = distributed.LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                                            memory_limit=0, dashboard_address=":0",
                                                            silence_logs=logging.ERROR,
                                                            scheduler_kwargs={"allowed_failures": 0})
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise UsageError(f"could not start a local Dask cluster of {count} workers ({one_line(exc)}); "
                                     "check free memory and processes, or start the workers yourself (`dask "
                                     "scheduler`, `dask worker ADDRESS`) and pass --scheduler ADDRESS") from None
                self.client = distributed.Client(self.cluster)
            logging.getLogger("distributed.scheduler").addFilter(_not_a_death_notice)
        self._facts = self._check_workers(warn)
        #: a LocalCluster's workers share this machine: each compresses on its share of the cores (two workers
        #: compressing with every core each made the accuracy-only suite slower than one worker here)
        self.compress_threads = max(1, (os.cpu_count() or 1) // self.worker_count) if self.cluster else 0

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
        """Every cell as a Dask task; a cell lost with a dead worker is submitted again unless it is to blame."""
        from distributed import as_completed

        if not work:
            return
        status, blame = _JobStatus(len(work), self.progress), Blame(self.allowed_failures)
        handlers = {PROGRESS_TOPIC: lambda event: (blame.on_event(event), status.started(event)),
                    "all": blame.on_event}
        for topic, handler in handlers.items():
            with contextlib.suppress(Exception):
                self.client.subscribe_topic(topic, handler)
        futures: dict[Any, int] = {}

        def submit(index: int) -> Any:
            item = work[index]
            job = dataclasses.replace(item.job, compress_threads=self.compress_threads)
            key = f"benchsuite-cell-{index}-{os.urandom(4).hex()}"
            blame.submitted(key, index)
            # within a priority, grid order (a retried cell keeps its place): Dask breaks ties by the random keys
            future = self.client.submit(dask_cell, job.to_json(), self.limits, self.isolate, item.label, key,
                                        key=key, pure=False, priority=item.priority * len(work) + len(work) - index)
            futures[future] = index
            return future

        queue = as_completed([submit(index) for index in range(len(work))])
        try:
            for future in queue:
                index, machine = futures.pop(future), None
                try:
                    result = future.result()
                    outcomes, machine = [Outcome(**o) for o in result["outcomes"]], result["machine"]
                except Exception as exc:
                    reason = None
                    if type(exc).__name__ == "KilledWorker":
                        blame.killed(future.key, getattr(getattr(exc, "last_worker", None), "address", None))
                        reason = blame.verdict(index)
                        if reason is None:  # not to blame: again
                            blame.ended(future.key)
                            future.release()
                            status.retried(work[index].label)
                            queue.add(submit(index))
                            continue
                    outcomes = [_lost(exc, reason)] * len(work[index].job.backends)
                blame.ended(future.key)
                status.finished(work[index].label, outcomes)
                yield Finished(index, outcomes, machine)
                future.release()
        finally:
            for topic in handlers:
                with contextlib.suppress(Exception):
                    self.client.unsubscribe_topic(topic)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                logging.getLogger("distributed.scheduler").removeFilter(_not_a_death_notice)


def _lost(exc: BaseException, crashed: str | None = None) -> Outcome:
    """The outcome of a cell that Dask could not run to the end (`crashed`: why the cell is to blame)."""
    if crashed is not None:
        return Outcome("crashed", crashed, traceback=str(exc))
    if type(exc).__name__ in ("CancelledError", "FutureCancelledError"):
        return Outcome("failed", "the Dask scheduler cancelled this cell (the cluster shut down or lost the client)",
                       traceback=str(exc))
    return Outcome("failed", f"the Dask task failed: {one_line(exc)}", traceback=str(exc))


class _JobStatus:
    """Counts cells done, running and failed, and prints a line as they change (stderr). Dask reports a cell's
    start (a worker event) on its own thread; the run loop reports its end."""

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

    def retried(self, label: str) -> None:
        """The cell's worker died, and the cell is submitted again."""
        with self.lock:
            self.running.discard(label)

    def finished(self, label: str, outcomes: Sequence[Outcome]) -> None:
        with self.lock:
            self.running.discard(label)
            self.ended.add(label)
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
