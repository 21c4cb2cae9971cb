"""One timing phase per machine, with nothing heavy beside it: a host-wide readers-writer lock.

Compression and accuracy work may run side by side (several Dask workers, or several `benchsuite run`s, on one
machine), but a latency measurement must not share the machine with them: a neighbour's fine-tuning on the other
core turned a 0.06 ms toy model into 12 ms in a first test here. So:

- a timing phase holds the lock exclusively (`timing_lock`): no other timing phase and no busy phase runs;
- heavy phases (task setup, compression, the backend's compile and the accuracy evaluation) hold it shared
  (`busy`), and step aside at every batch boundary (`yield_to_timing`, called by the training, calibration and
  evaluation loops) when a timing phase is waiting. The seconds a run spent stepped aside are kept out of its
  fine-tuning budget and its compression time.

A waiting timing phase first takes an "intent" lock, which busy phases check at their batch boundaries, so a
stream of busy phases cannot starve it. The locks are `flock(2)` on two files in a host-local folder: the kernel
releases them when their holder dies, even by SIGKILL, so a crashed worker never leaves the machine locked.

Work that never reaches a batch boundary (a long SVD, an export) delays the timing phase instead of running
beside it (`timing_lock_wait_seconds`). What the lock cannot stop (other programs, worker start-up) is measured:
`TimingWindow` records the share of the machine's CPU that other processes used while this one was timing.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: override the lock file's path, e.g. when /tmp is shared between hosts (it must be host-local)
LOCK_ENV = "BENCHSUITE_TIMING_LOCK"
LOCK_NAME = "benchsuite-timing.lock"


def lock_path() -> Path:
    """``$BENCHSUITE_TIMING_LOCK``, else ``benchsuite-timing.lock`` in the system's temporary folder."""
    explicit = os.environ.get(LOCK_ENV, "").strip()
    return Path(explicit).expanduser() if explicit else Path(tempfile.gettempdir()) / LOCK_NAME


def _open(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        os.fchmod(fd, 0o666)  # every user's benchsuite on this machine shares the one lock
    except OSError:
        pass
    return fd


def _intent(path: Path) -> Path:
    return path.with_name(path.name + ".intent")


#: file descriptors of this process's `busy` sections (innermost last): `yield_to_timing` releases them
_busy_fds: list[int] = []
_timing = False
#: told True when this process starts waiting for the machine (a timing phase, a busy section, or a step aside
#: for another's timing phase) and False when it has it: a worker reports these, so that the parent's per-phase
#: time limit does not count the time its phase queued behind other benchsuite runs on this machine
_wait_listener: Callable[[bool], None] | None = None


def set_wait_listener(listener: Callable[[bool], None] | None) -> None:
    """Call `listener(True)` when this process starts waiting for the machine, `listener(False)` when it has it."""
    global _wait_listener
    _wait_listener = listener


def _lock(fd: int, operation: int) -> None:
    """`flock(fd, operation)`; tells the wait listener (`set_wait_listener`) only when the lock has to be waited
    for, so a machine nobody else uses costs no events."""
    import fcntl

    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    listener = _wait_listener
    if listener is not None:
        listener(True)
    try:
        fcntl.flock(fd, operation)
    finally:
        if listener is not None:
            listener(False)


@contextmanager
def timing_lock(path: Path | None = None) -> Iterator[float]:
    """Hold the machine exclusively for a timing phase; yields the seconds spent waiting for it."""
    import fcntl

    global _timing
    if _busy_fds:
        raise RuntimeError("timing_lock() inside busy(): leave the busy section before timing")
    path = path or lock_path()
    start = time.perf_counter()
    intent, main = _open(_intent(path)), _open(path)
    try:
        _lock(intent, fcntl.LOCK_EX)  # busy phases step aside at their next batch boundary
        _lock(main, fcntl.LOCK_EX)  # ... and every other timing or busy phase has ended or stepped aside
        _timing = True
        try:
            yield time.perf_counter() - start
        finally:
            _timing = False
    finally:
        os.close(main)  # closing releases the locks
        os.close(intent)


@contextmanager
def busy(path: Path | None = None) -> Iterator[None]:
    """Hold the machine shared while doing heavy work: no timing phase runs until this ends or yields."""
    import fcntl

    if _timing or _busy_fds:  # inside this process's own timing phase or busy section: it has the machine
        yield
        return
    path = path or lock_path()
    fd = _open(path)
    try:
        _wait_for_intent(path)
        _lock(fd, fcntl.LOCK_SH)
        _busy_fds.append(fd)
        try:
            yield
        finally:
            _busy_fds.remove(fd)
    finally:
        os.close(fd)


def _wait_for_intent(path: Path) -> None:
    import fcntl

    intent = _open(_intent(path))
    try:
        _lock(intent, fcntl.LOCK_SH)  # blocks while a timing phase waits or runs
    finally:
        os.close(intent)


def yield_to_timing(path: Path | None = None) -> float:
    """At a batch boundary inside `busy`: if a timing phase is waiting, let it run first. Returns the seconds this
    process stood aside (0.0 at once when nobody is waiting, or outside `busy`)."""
    import fcntl

    if not _busy_fds:
        return 0.0
    path = path or lock_path()
    intent = _open(_intent(path))
    try:
        try:
            fcntl.flock(intent, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return 0.0  # nobody wants to time: carry on, still holding the machine shared
        except BlockingIOError:
            pass
    finally:
        os.close(intent)
    start = time.perf_counter()
    for fd in _busy_fds:
        fcntl.flock(fd, fcntl.LOCK_UN)
    _wait_for_intent(path)
    for fd in _busy_fds:
        _lock(fd, fcntl.LOCK_SH)
    return time.perf_counter() - start


def _host_busy_seconds() -> float | None:
    """CPU seconds all processes on this machine have used since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait
    values = [int(v) for v in fields[1:9]]
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class TimingWindow:
    """Measures, around a timing phase, the share of the machine's CPU that other processes used."""

    wall_start: float = 0.0
    host_start: float | None = None
    own_start: float = 0.0
    background_cpu: float | None = None

    def __enter__(self) -> TimingWindow:
        self.wall_start, self.host_start, self.own_start = time.perf_counter(), _host_busy_seconds(), _own_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.wall_start
        host = _host_busy_seconds()
        if self.host_start is None or host is None or wall <= 0:
            return
        others = (host - self.host_start) - (_own_cpu_seconds() - self.own_start)
        cores = os.cpu_count() or 1
        # clock ticks are 10 ms: clamp the rounding noise of short windows into [0, 1]
        self.background_cpu = round(min(1.0, max(0.0, others / (wall * cores))), 3)
