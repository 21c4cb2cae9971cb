"""TODO docstring (isolation.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

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
    results: list[Outcome | None] = [None] * len(job.backends)
    with tempfile.TemporaryDirectory(prefix="benchsuite-worker-") as tmp:
        job_file, events_file, log_file = Path(tmp) / "job.json", Path(tmp) / "events.jsonl", Path(tmp) / "log.txt"
        job_file.write_text(job.to_json())
        events_file.touch()
        with open(log_file, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "benchsuite.execution.worker", str(job_file), str(events_file)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=dict(env) if env is not None else None)
        phase: str | int = "setup"  # setup | compress | backend index | between
        phase_start, offset, cost, killed = time.monotonic(), 0, {}, None
        waiting_since: float | None = None  # the worker is queued for the machine (hostlock.py) since then
        setup_error: tuple[str, str] | None = None
        done = False

        def read_events() -> None:
            nonlocal offset, phase, phase_start, waiting_since, cost, setup_error, done
            with open(events_file, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for line in complete.splitlines():
                event = json.loads(line)
                kind = event["event"]
                if kind == "waiting":
                    waiting_since = time.monotonic()
                elif kind == "resumed":
                    if waiting_since is not None:
                        phase_start += time.monotonic() - waiting_since  # the queueing is not the phase's
                    waiting_since = None
                elif kind == "compressing":
                    phase, phase_start = "compress", time.monotonic()
                elif kind == "compressed":
                    cost = event["cost"]
                    phase, phase_start = "between", time.monotonic()
                elif kind == "measuring":
                    phase, phase_start = event["backend"], time.monotonic()
                elif kind == "result":
                    results[event["backend"]] = Outcome.from_event(event)
                    phase, phase_start = "between", time.monotonic()
                elif kind == "setup_failed":
                    setup_error = (event["error"], event.get("traceback", ""))
                elif kind == "done":
                    done = True

        def over_limit() -> tuple[str, str] | None:
            """The (status, error) of a worker past a limit, or None."""
            now = time.monotonic()
            if waiting_since is not None and now - waiting_since > WAIT_LIMIT_FACTOR * limits.time_limit_seconds:
                return ("timeout", f"{_phase_words(phase, job)} waited {now - waiting_since:.0f} s for the machine, "
                                   "held by another benchsuite run's phase; raise --time-limit, or find the run that "
                                   "holds it")
            if (waiting_since if waiting_since is not None else now) - phase_start > limits.time_limit_seconds:
                return ("timeout", f"{_phase_words(phase, job)} ran past the {limits.time_limit_seconds:g} s time "
                                   "limit; raise --time-limit if it needs longer")
            rss = group_rss_bytes(proc.pid)
            if rss > limits.memory_limit_bytes:
                return ("crashed", f"{_phase_words(phase, job)} exceeded the memory limit: resident memory "
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
    if setup_error is not None:
        return [Outcome("failed", setup_error[0], traceback=setup_error[1])] * len(results)
    if done and killed is None:
        return results
    if killed is not None:
        status, reason = killed
    elif returncode < 0:
        status, reason = "crashed", (f"worker died with {_signal_name(-returncode)} while "
                                     f"{_phase_words(phase, job, gerund=True)}")
    else:
        status, reason = "crashed", (f"worker exited with code {returncode} while "
                                     f"{_phase_words(phase, job, gerund=True)}")
    failure = Outcome(status, reason, cost=cost, traceback=log_tail)
    if phase in ("setup", "compress"):
        return [r if r is not None else failure for r in results]
    if isinstance(phase, int):
        results[phase] = failure
    return results  # "between": the unreached backends go to a fresh worker


def _phase_words(phase: str | int, job: CellJob, gerund: bool = False) -> str:
    if phase == "setup":
        return "setting up the task" if gerund else "task setup"
    if phase == "compress":
        return "compressing" if gerund else "compression"
    if phase == "between":
        return "between measurements" if gerund else "the worker"
    return f"measuring on {job.backends[phase][0]}" if gerund else f"measurement on {job.backends[phase][0]}"


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])
