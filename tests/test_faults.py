"""Fault isolation: every fault a plugin can inject becomes a row, and the grid carries on; SIGKILL and resume."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import GOOD, HERE, NO_SLOW_BACKENDS as ENV_BLOCK, alive, cli, plugins_folder

FAULTS = HERE / "plugins" / "faults"
#: the per-phase limit of the fault grid: well above a worker's start-up (importing torch, about 6 s here) even
#: when the other pytest worker of `.ci/run` keeps both cores busy, so that only the hanging faults reach it
LIMIT_SECONDS = 20
#: a fault -> (status, words the one-line reason contains, whether a traceback/log file is saved)
EXPECTED = {
    "fault-raises": ("failed", "compression failed: ValueError: injected failure in apply"),
    "fault-import-error": ("failed", "ModuleNotFoundError: No module named 'benchsuite_no_such_module'"),
    "fault-hang": ("timeout", f"compression ran past the {LIMIT_SECONDS} s time limit"),
    "fault-segfault": ("crashed", "worker died with SIGSEGV while compressing"),
    "fault-abort": ("crashed", "worker died with SIGABRT while compressing"),
    "fault-exit": ("failed", "compression failed: SystemExit: 3"),
    "fault-memory": ("crashed", "compression exceeded the memory limit"),
    "fault-wrong-type": ("failed", "fault-wrong-type.apply returned dict, not a torch.nn.Module"),
    "fault-hang-measuring": ("timeout", f"measurement on torch-cpu ran past the {LIMIT_SECONDS} s time limit"),
    "fault-cheats-timing": ("failed", "integrity: outputs after timing differ from the accuracy phase on 16"),
}


@pytest.fixture(scope="module")
def plugins_dir(tmp_path_factory):
    """The toy task and methods beside the fault-injection methods, in one plugins folder."""
    return plugins_folder(tmp_path_factory.mktemp("plugins"), GOOD / "toy_task.py", GOOD / "toy_methods.py",
                          FAULTS / "fault_methods.py")


@pytest.fixture(scope="module")
def fault_run(plugins_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    store = root / "store"
    methods = [arg for name in ["baseline", *EXPECTED, "toy-halve"] for arg in ("--method", name)]
    proc = cli("run", "--quick", "--no-progress", "--task", "toy-blobs", "--plugins-dir", str(plugins_dir),
               "--store", str(store), "--time-limit", str(LIMIT_SECONDS), "--memory-limit", "1.5GiB", *methods,
               env={**ENV_BLOCK, "BENCHSUITE_CACHE": str(root / "cache")})
    from benchsuite.results.store import ResultStore

    return proc, store, ResultStore(store).read()


@pytest.mark.parametrize("method", list(EXPECTED))
def test_each_fault_becomes_a_row_with_its_reason_and_saved_traceback(fault_run, method):
    _, store, frame = fault_run
    row = frame[frame["method"] == method].iloc[0]
    status, words = EXPECTED[method]
    assert row["status"] == status and words in row["error"] and "\n" not in row["error"]
    assert row["traceback_file"].startswith("tracebacks/")
    saved = (store / row["traceback_file"]).read_text()
    assert saved.splitlines()[0].endswith(f"{status}: {row['error']}")
    if status == "crashed" and "memory" not in words:
        assert "Fatal Python error" in saved  # faulthandler's traceback of the dead worker
    if method == "fault-raises":
        assert "Traceback (most recent call last)" in saved and "fault_methods.py" in saved
    assert row["time_limit_seconds"] == LIMIT_SECONDS and row["memory_limit_bytes"] == int(1.5 * 2**30)


def test_the_grid_carries_on_and_the_summary_and_exit_code_count_the_faults(fault_run):
    proc, _, frame = fault_run
    assert proc.returncode == 1
    assert len(frame) == len(EXPECTED) + 2
    good = frame[frame["method"].isin(["baseline", "toy-halve"])]
    assert (good["status"] == "ok").all() and good["integrity"].str.startswith("passed: outputs, budget").all()
    counts = frame["status"].value_counts()
    summary = proc.stderr.strip().splitlines()[-1]
    assert (f"{counts['ok']} ok, {counts['failed']} failed, {counts['timeout']} timeout, "
            f"{counts['crashed']} crashed, 0 skipped") in summary
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("isolate", ["cell", "run"])
def test_a_crash_on_one_backend_costs_only_that_backends_row(plugins_dir, tmp_path, isolate):
    """cell: the worker dies measuring on the first backend; the second runs in a fresh worker (compressing
    again). run: every backend has its own worker from the start."""
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--no-progress", "--task", "toy-blobs", "--plugins-dir", str(plugins_dir),
               "--store", str(store), "--isolate", isolate, "--method", "fault-segfault-one-backend",
               "--backend", "torch-cpu:threads=1", "--backend", "torch-cpu:threads=2",
               env={**ENV_BLOCK, "BENCHSUITE_CACHE": str(tmp_path / "cache")})
    from benchsuite.results.store import ResultStore

    frame = ResultStore(store).read()
    rows = {(m, p): (s, e) for m, p, s, e in frame[["method", "backend_params", "status", "error"]].itertuples(
        index=False)}
    one, two = '{"emulated":false,"threads":1}', '{"emulated":false,"threads":2}'
    assert rows[("fault-segfault-one-backend", one)] == ("crashed",
                                                         "worker died with SIGSEGV while measuring on torch-cpu")
    assert rows[("fault-segfault-one-backend", two)][0] == "ok"
    assert rows[("baseline", one)][0] == rows[("baseline", two)][0] == "ok"
    assert proc.returncode == 1


def _store_rows(store):
    from benchsuite.results.store import ResultStore
    from benchsuite.results.keys import run_key

    frame = ResultStore(store).read()
    return frame, [run_key(r) for r in frame.to_dict("records")]


def test_sigkill_at_any_moment_leaves_a_readable_store_and_the_same_command_resumes(plugins_dir, tmp_path):
    store = tmp_path / "store"
    factors = ["0.9", "0.7", "0.5"]
    args = [sys.executable, "-m", "benchsuite.cli", "run", "--quick", "--no-progress", "--task", "toy-blobs",
            "--plugins-dir", str(plugins_dir), "--store", str(store),
            *[a for f in factors for a in ("--method", f"toy-halve:factor={f}")]]
    env = {**os.environ, **ENV_BLOCK, "BENCHSUITE_CACHE": str(tmp_path / "cache")}
    total = len(factors) + 1  # with the baseline
    # kill while starting up, after the first row (the baseline), and after the second
    for rows_before_kill in (0, 1, 2):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(list(store.glob("results-*.parquet"))) < rows_before_kill and time.monotonic() < deadline:
            time.sleep(0.02)
        if rows_before_kill == 0:
            time.sleep(1.0)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "a worker outlived the killed run"
        frame, keys = _store_rows(store)
        assert len(keys) == len(set(keys)), "a killed run left duplicate rows"
        assert frame["status"].eq("ok").all() and len(frame) <= total
    resumed = subprocess.run(args, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    frame, keys = _store_rows(store)
    assert len(frame) == total and len(set(keys)) == total
    again = subprocess.run(args, env=env, capture_output=True, text=True)
    assert "0 runs" in again.stderr and f"{total} already in the store" in again.stderr
    assert len(_store_rows(store)[0]) == total
    forced = subprocess.run(args + ["--force", "--isolate", "none"], env=env, capture_output=True, text=True)
    assert forced.returncode == 0 and len(_store_rows(store)[0]) == 2 * total


def _children(pid):
    try:
        return [int(c) for t in os.listdir(f"/proc/{pid}/task")
                for c in open(f"/proc/{pid}/task/{t}/children").read().split()]
    except OSError:
        return []
