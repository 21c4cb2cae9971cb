"""Fault isolation: run a cell in a worker subprocess under a wall-time and a resident-memory limit, or (``--isolate
none``) in this process.

The parent follows the worker's events (events.py) to know the phase it is in: setting up the task, compressing,
or measuring on backend i. Each phase has its own wall-time limit. A phase that runs past it is killed and
recorded as ``timeout``. The time a worker spends queued for the machine (hostlock.py: another run's timing
phase, or this one's waiting for other runs' heavy work) is not the phase's own and is left out of its limit; a
single wait longer than WAIT_LIMIT_FACTOR times the limit is a timeout of its own. A worker that dies (signal,
abort, exit, the memory limit) is recorded as ``crashed`` for the phase it was in. Backends the dead worker
never reached run in a fresh worker.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchsuite.errors import one_line
from benchsuite.execution import events as ev
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.limits import Limits

POLL_SECONDS = 0.25


#: a worker may queue for the machine this many times its phase limit in one wait before it counts as hung
WAIT_LIMIT_FACTOR = 4


LOG_TAIL_LINES = 200


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in process group `pgid` (the worker and anything it started)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        if len(fields) > 21 and int(fields[2]) == pgid:
            total += int(fields[21]) * page
    return total


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(proc: subprocess.Popen, dump_stacks: bool = False) -> None:
    """Kill the worker and everything it started; first ask it to print its threads' stacks (timeouts)."""
    if dump_stacks:
        try:
            os.kill(proc.pid, signal.SIGUSR1)
            proc.wait(timeout=1.0)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_isolated(job: CellJob, limits: Limits, env: Mapping[str, str] | None = None) -> list[Outcome]:
    """One Outcome per backend of `job`, each run under `limits`; a dead worker's unreached backends go to a
    fresh worker. `env`: the workers' environment (default: this process's)."""
    outcomes: list[Outcome | None] = [None] * len(job.backends)
    while True:
        pending = [i for i, o in enumerate(outcomes) if o is None]
        if not pending:
            return [o for o in outcomes if o is not None]
        sub = dataclasses.replace(job, backends=tuple(job.backends[i] for i in pending))
        results = _one_worker(sub, limits, env)
        if all(r is None for r in results):  # no progress at all: never loop
            results = [Outcome("crashed", "worker ended without a result")] * len(results)
        for i, result in zip(pending, results):
            outcomes[i] = result


def _one_worker(job: CellJob, limits: Limits, env: Mapping[str, str] | None = None) -> list[Outcome | None]:
    """Run `job` in one worker. Returns an Outcome per backend, None for backends it never reached."""
    names = [name for name, _ in job.backends]
    with tempfile.TemporaryDirectory(prefix="benchsuite-worker-") as tmp:
        job_file, events_file, log_file = Path(tmp) / "job.json", Path(tmp) / "events.jsonl", Path(tmp) / "log.txt"
        job_file.write_text(job.to_json())
        events_file.touch()
        with open(log_file, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "benchsuite.execution.worker", str(job_file),
                                     str(events_file)], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=dict(env) if env is not None else None)
        phases = ev.Phases(len(job.backends))
        offset, killed = 0, None

        def read_events() -> None:
            nonlocal offset
            with open(events_file, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            offset += len(complete)
            phases.take(ev.decode(complete))

        def over_limit() -> tuple[str, str] | None:
            """The (status, error) of a worker past a limit, or None."""
            if phases.wait_seconds() > WAIT_LIMIT_FACTOR * limits.time_limit_seconds:
                return ("timeout", f"{phases.describe(names)} waited {phases.wait_seconds():.0f} s for the machine, "
                                   "held by another benchsuite run's phase; raise --time-limit, or find the run that "
                                   "holds it")
            if phases.phase_seconds() > limits.time_limit_seconds:
                return ("timeout", f"{phases.describe(names)} ran past the {limits.time_limit_seconds:g} s time "
                                   "limit; raise --time-limit if it needs longer")
            rss = group_rss_bytes(proc.pid)
            if rss > limits.memory_limit_bytes:
                return ("crashed", f"{phases.describe(names)} exceeded the memory limit: resident memory "
                                   f"{rss / 2**30:.2f} GiB > {limits.memory_limit_bytes / 2**30:.2f} GiB; "
                                   "raise --memory-limit if it needs more")
            return None

        try:
            while True:
                try:
                    returncode = proc.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                read_events()
                killed = over_limit()
                if killed is not None:
                    _kill_group(proc, dump_stacks=True)
                    returncode = proc.returncode
                    break
        except BaseException:
            _kill_group(proc)
            raise
        read_events()
        log_tail = _tail(log_file)
    results = phases.results
    if phases.setup_error is not None:
        error, trace = phases.setup_error
        return [Outcome("failed", error, traceback=trace)] * len(results)
    if phases.done and killed is None:
        return results
    if killed is not None:
        status, reason = killed
    elif returncode < 0:
        status, reason = "crashed", (f"worker died with {_signal_name(-returncode)} while "
                                     f"{phases.describe(names, gerund=True)}")
    else:
        status, reason = "crashed", (f"worker exited with code {returncode} while "
                                     f"{phases.describe(names, gerund=True)}")
    failure = Outcome(status, reason, cost=phases.cost, traceback=log_tail)
    if phases.phase in ("setup", "compress"):
        return [r if r is not None else failure for r in results]
    if isinstance(phases.phase, int):
        results[phases.phase] = failure
    return results  # "between": the unreached backends go to a fresh worker


class InProcess:
    """``--isolate none``: cells run in this process, with this process's plugins, and no limits (a crash or a
    hang is this process's). Each task is set up once (its reference model built or loaded) and reused."""

    def __init__(self, plugins: Any, bar: Callable[[str, int], Any] | None = None) -> None:
        self.plugins, self.bar = plugins, bar
        #: per task name: (task, reference model), or the one-line reason it could not be set up
        self._tasks: dict[str, tuple[Any, Any] | str] = {}

    def _setup(self, name: str) -> tuple[Any, Any] | str:
        if name not in self._tasks:
            from benchsuite.sdk.paths import cache_dir

            try:
                task = self.plugins.tasks.get(name)()
                self._tasks[name] = (task, task.reference_model(cache_dir()))
            except Exception as exc:
                self._tasks[name] = f"task {name} could not be set up: {one_line(exc)}"
        return self._tasks[name]

    def run(self, job: CellJob) -> list[Outcome]:
        from benchsuite.execution.cell import execute

        setup = self._setup(job.task)
        if isinstance(setup, str):
            return [Outcome("failed", setup)] * len(job.backends)
        phases = ev.Phases(len(job.backends))
        execute(job, self.plugins, *setup, phases, bar=self.bar)
        return [r if r is not None else Outcome("failed", "the cell ended without a result") for r in phases.results]


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])
