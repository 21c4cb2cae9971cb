"""The host timing lock (benchsuite/execution/hostlock.py): one timing phase per machine, heavy work only beside
no timing phase, the time queued for the machine reported and left out of a phase's time limit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchsuite.execution import hostlock
from benchsuite.execution.hostlock import TimingWindow, busy, timing_lock


def _hold_timing_lock(path, seconds: float) -> subprocess.Popen:
    """Another benchsuite run's timing phase: a process that holds the machine for `seconds` (returns once held)."""
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time\nfrom pathlib import Path\nfrom benchsuite.execution.hostlock import timing_lock\n"
                               f"with timing_lock(Path({str(path)!r})):\n"
                               f"    print('held', flush=True); time.sleep({seconds})"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_lock_path_is_the_environment_variable_else_one_file_in_the_temporary_folder(monkeypatch, tmp_path):
    import tempfile

    monkeypatch.delenv(hostlock.LOCK_ENV, raising=False)
    assert hostlock.lock_path() == Path(tempfile.gettempdir()) / "benchsuite-timing.lock"
    monkeypatch.setenv(hostlock.LOCK_ENV, f" {tmp_path / 'my.lock'} ")
    assert hostlock.lock_path() == tmp_path / "my.lock"


def test_timing_lock_is_exclusive_and_reports_the_wait(tmp_path):
    path = tmp_path / "timing.lock"
    acquired = threading.Event()
    waits = []

    def second() -> None:
        with timing_lock(path) as waited:
            waits.append(waited)
            acquired.set()

    with timing_lock(path) as first_wait:
        assert first_wait < 0.5  # nobody held it
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.5)  # held here: the second timing phase waits
    assert acquired.wait(10)
    thread.join()
    assert waits[0] > 0.4


def test_a_busy_section_waits_for_a_timing_phase_and_tells_the_wait_listener_only_then(tmp_path):
    path = tmp_path / "timing.lock"
    told = []
    hostlock.set_wait_listener(told.append)
    try:
        with busy(path):  # nobody times: no wait, no events
            assert hostlock._busy_fds
        assert told == [] and not hostlock._busy_fds
        holder = _hold_timing_lock(path, 1.0)
        try:
            start = time.perf_counter()
            with busy(path):
                waited = time.perf_counter() - start
        finally:
            holder.kill()
            holder.wait()
    finally:
        hostlock.set_wait_listener(None)
    assert told == [True, False]  # waiting, then resumed: what a worker reports to its parent
    assert 0.3 < waited < 30


def test_timing_lock_inside_a_busy_section_is_refused(tmp_path):
    with busy(tmp_path / "timing.lock"):
        with pytest.raises(RuntimeError, match="leave the busy section before timing"):
            with timing_lock(tmp_path / "timing.lock"):
                pass


def test_yield_to_timing_returns_at_once_when_nobody_waits(tmp_path):
    path = tmp_path / "timing.lock"
    assert hostlock.yield_to_timing(path) == 0.0  # outside busy
    with busy(path):
        assert hostlock.yield_to_timing(path) == 0.0


def test_timing_lock_is_released_when_its_holder_is_killed(tmp_path):
    path = tmp_path / "timing.lock"
    holder = _hold_timing_lock(path, 60)
    holder.kill()  # SIGKILL: no clean-up runs; the kernel drops the flock
    holder.wait()
    with timing_lock(path) as waited:
        assert waited < 5


@pytest.mark.parametrize("host_seconds, own_seconds, share", [
    (2.0, 2.0, 0.0),  # all the machine's CPU time in the window was this process's
    (1.0, 2.0, 0.0),  # clock-tick rounding can make others' share negative: clamped to 0
    (2.0, 1.0, None),  # others used one CPU second in a 1 s window: one core's worth (None: 1 / cores)
    (1000.0, 0.0, 1.0),  # more than the whole machine (rounding again): clamped to 1
])
def test_timing_window_is_the_share_of_the_machine_others_used(monkeypatch, host_seconds, own_seconds, share):
    cores = os.cpu_count() or 1
    clock = iter([100.0, 101.0])  # a 1 s window
    monkeypatch.setattr(hostlock, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    host = iter([50.0, 50.0 + host_seconds])
    own = iter([7.0, 7.0 + own_seconds])
    monkeypatch.setattr(hostlock, "_host_busy_seconds", lambda: next(host))
    monkeypatch.setattr(hostlock, "_own_cpu_seconds", lambda: next(own))
    with TimingWindow() as window:
        pass
    assert window.background_cpu == (round(1 / cores, 3) if share is None else share)


def test_timing_window_without_proc_stat_records_nothing(monkeypatch):
    monkeypatch.setattr(hostlock, "_host_busy_seconds", lambda: None)
    with TimingWindow() as window:
        pass
    assert window.background_cpu is None


def test_timing_window_sees_a_busy_neighbour():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy_window = TimingWindow()
        with busy_window:
            time.sleep(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    cores = os.cpu_count() or 1
    assert busy_window.background_cpu >= 0.5 / cores  # one spinning process is one core's worth


def test_the_runner_writes_rows_inside_a_busy_section(toy_plugins, toy_cache, one_thread, tmp_path):
    """On a LocalCluster the client writes one cell's row while another cell times on the same machine: the
    write holds the machine shared (hostlock.busy), so it waits for a timing phase instead of running beside it."""
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import build_grid
    from benchsuite.results.store import ResultStore

    seen = []

    class Recording(ResultStore):
        def append(self, rows, *args, **kwargs):
            seen.append(bool(hostlock._busy_fds))
            return super().append(rows, *args, **kwargs)

    grid = build_grid(toy_plugins, ["toy-blobs"], ["baseline", "toy-halve"], ["torch-cpu"])
    rows = run_grid(toy_plugins, grid, RunOptions(quick=True, isolate="none"), Recording(tmp_path / "s"),
                    progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert seen == [True, True] and not hostlock._busy_fds


@pytest.mark.parametrize("limit, held, status, words", [
    (12, 16, "ok", ""),  # queued 16 s behind a neighbour's timing phase, under a 12 s limit: not a timeout
    (2, 14, "timeout", "for the machine, held by another benchsuite run's phase"),
])
def test_a_phase_limit_leaves_out_the_time_queued_for_the_machine(toy_plugins, toy_cache, tmp_path, monkeypatch,
                                                                   limit, held, status, words):
    """A cell worker that waits for the machine while another run times is not timed out for the wait: the
    parent stops the phase's clock; only a wait of over WAIT_LIMIT_FACTOR limits counts as hung."""
    from benchsuite.execution.isolation import WAIT_LIMIT_FACTOR
    from benchsuite.execution.limits import Limits
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import build_grid

    assert limit < held and (held < limit * WAIT_LIMIT_FACTOR) == (status == "ok")
    path = tmp_path / "timing.lock"
    monkeypatch.setenv("BENCHSUITE_TIMING_LOCK", str(path))
    holder = _hold_timing_lock(path, held)
    try:
        grid = build_grid(toy_plugins, ["toy-blobs"], ["baseline"], ["torch-cpu"])
        rows = run_grid(toy_plugins, grid, RunOptions(quick=True, limits=Limits(limit)), None, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert rows[-1]["status"] == status, rows[-1]["error"]
    if status == "ok":
        assert rows[-1]["error"] == ""
    else:
        assert rows[-1]["error"].startswith("task setup waited ") and words in rows[-1]["error"]
