"""The Dask executor on a real 2-worker LocalCluster: rows stream into the store, timing phases never overlap,
workers killed mid-grid lose and duplicate nothing, and re-runs reuse what is stored and cached."""

from __future__ import annotations

import os
import shutil
import signal
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest

from conftest import GOOD, HERE, cli, in_fresh_process

pytest.importorskip("distributed")

DASK_PLUGINS = HERE / "plugins" / "dask"
ENV_BLOCK = {"BENCHSUITE_PLUGINS_BLOCK": "builtin.backends.torch-compile,builtin.backends.onnxruntime"}


@pytest.fixture(scope="module")
def plugins_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    for source in (GOOD / "toy_task.py", GOOD / "toy_methods.py", DASK_PLUGINS / "dask_methods.py"):
        shutil.copy(source, folder / source.name)
    return folder


def _methods(*specs: str) -> list[str]:
    return [arg for spec in specs for arg in ("--method", spec)]


def _tags(log: Path) -> list[str]:
    """The tags of the compressions logged by slow-halve, sorted."""
    return sorted(line.split()[0] for line in log.read_text().splitlines())


def _no_overlap(frame: pd.DataFrame) -> None:
    """No two rows' timing phases overlapped in time (the host's timing lock)."""
    timed = frame[frame["status"] == "ok"].sort_values("timing_started_at")
    starts = timed["timing_started_at"].tolist()
    ends = [s + pd.Timedelta(seconds=float(d)) for s, d in zip(starts, timed["timing_seconds"])]
    for end, next_start in zip(ends, starts[1:]):
        assert next_start >= end - pd.Timedelta(milliseconds=5), "two timing phases overlapped"


def test_cli_grid_on_a_local_cluster_then_incremental_reruns(plugins_dir, tmp_path):
    from benchsuite.execution.executors import machine_columns
    from benchsuite.results.store import ResultStore
    from benchsuite.results.keys import run_keys

    store, log = tmp_path / "store", tmp_path / "applies.txt"
    env = {**ENV_BLOCK, "BENCHSUITE_CACHE": str(tmp_path / "cache"), "BENCHSUITE_TEST_APPLY_LOG": str(log)}
    common = ["run", "--quick", "--task", "toy-blobs", "--plugins-dir", str(plugins_dir), "--store", str(store),
              "--executor", "dask", "--workers", "2"]
    specs = ["baseline", *(f"slow-halve:tag={i}" for i in range(1, 5))]
    first = cli(*common, *_methods(*specs), env=env)
    assert first.returncode == 0, first.stderr
    assert "dask jobs: 5/5 done, 0 running, 0 failed, 0 queued" in first.stderr
    frame = ResultStore(store).read()
    assert len(frame) == 5 and set(frame["status"]) == {"ok"} and set(frame["executor"]) == {"dask"}
    assert len(set(run_keys(frame))) == 5
    assert frame["baseline_latency_p50_ms"].notna().all() and frame["realized_speedup"].notna().all()
    machine = machine_columns()
    assert set(frame["hardware_fingerprint"]) == {machine["hardware_fingerprint"]}
    assert frame["timing_lock_wait_seconds"].notna().all() and frame["timing_background_cpu"].between(0, 1).all()
    _no_overlap(frame)
    assert _tags(log) == ["1", "2", "3", "4"]
    # two workers share this machine's cores while compressing; timing still uses the backend's threads
    assert {line.split()[1] for line in log.read_text().splitlines()} == {str(max(1, (os.cpu_count() or 1) // 2))}

    # nothing changed: nothing compressed, nothing timed, no job sent to Dask
    again = cli(*common, *_methods(*specs), env=env)
    assert again.returncode == 0, again.stderr
    assert "5 already in the store" in again.stderr and "dask jobs" not in again.stderr
    assert len(ResultStore(store).read()) == 5 and len(_tags(log)) == 4

    # one configuration added: only it runs; --force re-runs reuse the cached compressed models
    more = cli(*common, *_methods(*specs, "slow-halve:tag=5"), env=env)
    assert more.returncode == 0, more.stderr
    assert "1 runs in" in more.stderr and "5 already in the store" in more.stderr
    forced = cli(*common, "--force", *_methods("baseline", "slow-halve:tag=1"), env=env)
    assert forced.returncode == 0, forced.stderr
    frame = ResultStore(store).read()
    assert len(frame) == 8
    assert _tags(log) == ["1", "2", "3", "4", "5"]  # tag 1 came from the cache
    newest = frame.sort_values("created_at").iloc[-1]
    assert newest["config"] == "slow-halve:seconds=1.0,tag=1" and bool(newest["compression_cached"])
    assert newest["compress_seconds"] >= 1.0  # the cost of the compression that made it


def test_killed_workers_lose_and_duplicate_nothing(plugins_dir, tmp_path, monkeypatch, request):
    """One Dask worker is SIGKILLed mid-grid from outside, and one cell kills every worker that runs it."""
    if in_fresh_process(request):
        return
    import dask

    from benchsuite.execution.dask_cluster import DaskExecutor
    from benchsuite.execution.limits import Limits
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.results.store import ResultStore
    from benchsuite.results.keys import run_keys
    from benchsuite.results.check import check_store

    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCHSUITE_CACHE", str(cache))
    plugins = load_plugins(plugins_dir, warn=lambda m: None, environ=ENV_BLOCK)
    specs = ["baseline", *(f"slow-halve:seconds=3,tag={i}" for i in range(1, 6)), "kills-dask-worker"]
    grid = build_grid(plugins, ["toy-blobs"], specs, ["torch-cpu"])
    options = RunOptions(quick=True, limits=Limits(120))
    store = ResultStore(tmp_path / "store")
    environ = dict(os.environ)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        executor = DaskExecutor(options.limits, "cell", workers=2, progress=False)
    # the nanny's OMP/MKL/OpenBLAS caps must not leak into this process (later local workers would inherit them)
    assert dict(os.environ) == environ
    killed: list[int] = []

    def kill_one_worker(row: dict) -> None:
        if killed or row["config"] == "baseline":
            return
        pids = executor.client.run(os.getpid, on_error="ignore")  # a worker the killer just killed is left out
        if not pids:
            return
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    try:
        rows = run_grid(plugins, grid, options, store, progress=False, on_row=kill_one_worker, executor=executor)
    finally:
        executor.close()
    assert killed
    frame = store.read()
    assert len(rows) == len(frame) == 7 and len(set(run_keys(frame))) == 7
    by_config = frame.set_index("config")
    assert set(by_config.drop(index="kills-dask-worker")["status"]) == {"ok"}  # retried on another worker
    crashed = by_config.loc["kills-dask-worker"]
    assert crashed["status"] == "crashed" and "the Dask workers running this cell died 2 times" in crashed["error"]
    assert check_store(store.path).clean
    assert not _orphan_cell_workers(cache)


def test_an_innocent_cell_on_dead_workers_is_retried_and_only_the_killer_crashes(plugins_dir, tmp_path, monkeypatch,
                                                                                 request):
    """The CI failure, made certain. One worker holds both cells (grid order: the killer first): the cell that
    kills its Dask worker dies twice with the innocent cell queued behind it, then the innocent cell's worker is
    killed from outside while it compresses. Dask's own count (3 deaths > allowed-failures 1) would crash the
    innocent cell; benchsuite charges a death only to the cells running on the worker, so the innocent cell is
    retried and ends ok, and only the killer crashes."""
    if in_fresh_process(request):
        return
    import threading

    import dask

    from benchsuite.execution import dask_cluster
    from benchsuite.execution.limits import Limits
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.results.store import ResultStore

    log = tmp_path / "applies.txt"
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCHSUITE_TEST_APPLY_LOG", str(log))
    ledgers: list = []

    class Kept(dask_cluster.Blame):
        def __init__(self, allowed_failures: int) -> None:
            super().__init__(allowed_failures)
            ledgers.append(self)

    monkeypatch.setattr(dask_cluster, "Blame", Kept)
    plugins = load_plugins(plugins_dir, warn=lambda m: None, environ=ENV_BLOCK)
    grid = build_grid(plugins, ["toy-blobs"], ["kills-dask-worker", "slow-halve:seconds=3,tag=7"], ["torch-cpu"])
    options = RunOptions(quick=True, limits=Limits(120))
    store = ResultStore(tmp_path / "store")
    # one worker, and every cell sent to it at once: the innocent cell waits on the worker the killer kills
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": float("inf")}):
        executor = dask_cluster.DaskExecutor(options.limits, "cell", workers=1, progress=False)
    killed: list[int] = []
    done = threading.Event()

    def kill_the_innocent_cells_worker() -> None:
        """Kill the worker from outside the first time the innocent cell compresses on it."""
        while not done.wait(0.05):
            if log.exists() and "7" in log.read_text().split():
                pids = executor.client.run(os.getpid, on_error="ignore")
                if pids:
                    os.kill(next(iter(pids.values())), signal.SIGKILL)
                    killed.append(next(iter(pids.values())))
                    return

    outsider = threading.Thread(target=kill_the_innocent_cells_worker, daemon=True)
    outsider.start()
    try:
        rows = run_grid(plugins, grid, options, store, progress=False, executor=executor)
    finally:
        done.set()
        outsider.join()
        executor.close()
    assert killed
    by_config = store.read().set_index("config")
    assert len(rows) == len(by_config) == 3
    innocent = by_config.loc["slow-halve:seconds=3.0,tag=7"]
    assert innocent["status"] == "ok", innocent["error"]
    # in grid order: the killer twice (the innocent cell queued behind it), then the innocent cell killed from
    # outside while compressing, then again to the end
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["kill", "kill", "7", "7"], log.read_text()
    crashed = by_config.loc["kills-dask-worker"]
    assert crashed["status"] == "crashed" and "the Dask workers running this cell died 2 times" in crashed["error"]
    charges = ledgers[0].charges  # cell indexes: the killer 1, the innocent cell 2 (the baseline 0)
    assert (charges[1].deaths, charges[1].share) == (2, 2)
    assert (charges[2].deaths, charges[2].share, charges[2].losses) == (1, 1, 3)


def test_blame_charges_only_the_cells_running_on_a_dead_worker():
    """The rule on its own (dask_cluster's docstring), one event at a time: deaths are charged to the cells that
    were running on the worker, shared among them; queued cells and announced departures are charged nothing."""
    from benchsuite.execution.dask_cluster import LOSS_FACTOR, Blame

    blame = Blame(allowed_failures=1)  # a cell may be charged one death, and ends crashed at the second
    for key, index in (("killer", 0), ("queued", 1), ("beside-a", 2), ("beside-b", 3)):
        blame.submitted(key, index)
    blame.started("killer", "w1")
    blame.worker_died("w1", ["killer", "queued"])
    assert blame.verdict(0) is None and blame.verdict(1) is None
    assert (blame.charges[0].share, blame.charges[1].share, blame.charges[1].losses) == (1, 0, 1)
    blame.started("killer", "w2")
    blame.started("killer-on-w1", "w1")  # an unknown key (another client's task) is ignored
    blame.worker_died("w2", ["killer", "queued"])
    blame.killed("killer", "w2")  # the same death again, as the task's KilledWorker: counted once
    assert blame.charges[0].deaths == 2 and blame.charges[1].losses == 2
    assert blame.verdict(0) == ("the Dask workers running this cell died 2 times (the cell was retried each time); "
                                "check the workers' logs and memory")
    assert blame.verdict(1) is None

    blame.started("beside-a", "w3")
    blame.started("beside-b", "w3")
    blame.worker_died("w3", ["beside-a", "beside-b"])  # two cells ran side by side: half a death each
    blame.started("beside-a", "w4")
    blame.worker_died("w4", ["beside-a"], expected=True)  # retired on purpose: nobody's fault
    assert blame.charges[2].share == blame.charges[3].share == Fraction(1, 2) and blame.verdict(2) is None
    blame.started("beside-a", "w5")
    blame.killed("beside-a", "w5")  # a death whose event never came: the KilledWorker counts it
    blame.started("beside-a", "w6")
    blame.started("beside-b", "w6")
    blame.worker_died("w6", ["beside-a", "beside-b"])
    assert blame.charges[2].share == 2 and "died 3 times (2 of them with other cells running beside it; the cell was retried each time)" in \
        blame.verdict(2)
    assert blame.charges[3].share == 1 and blame.verdict(3) is None

    for n in range(3, LOSS_FACTOR * 2 + 1):  # queued on dying workers again and again: a bound, not for ever
        assert blame.verdict(1) is None
        blame.worker_died(f"v{n}", ["queued"])
    assert blame.verdict(1).startswith(f"the Dask workers holding this cell died {LOSS_FACTOR * 2} times (0 while it ran)")

    assert Blame(allowed_failures=0).limit == 1
    once = Blame(allowed_failures=0)
    once.submitted("k", 0)
    once.started("k", "w")
    once.worker_died("w", ["k"])
    assert once.verdict(0).startswith("the Dask workers running this cell died once (no retries allowed)")


def _orphan_cell_workers(cache: Path) -> list[int]:
    """This test's cell worker subprocesses left behind (their Dask worker died; PDEATHSIG should have killed
    them). Only those started with this test's cache: the other pytest worker runs cell workers of its own."""
    found = []
    mine = f"BENCHSUITE_CACHE={cache}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"benchsuite.execution.worker" in cmdline and b"python" in cmdline and mine in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("args, words", [
    (["--executor", "dask", "--isolate", "none"], "with --executor dask use --isolate cell or run"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler at"),
    (["--workers", "2"], "--scheduler and --workers need --executor dask"),
    (["--executor", "dask", "--workers", "0"], "--workers got 0"),
])
def test_bad_executor_options_are_one_line_errors(args, words, tmp_path):
    proc = cli("run", "--quick", "--task", "toy-blobs", "--plugins-dir", str(GOOD), "--store",
               str(tmp_path / "store"), *args, env=ENV_BLOCK)
    assert proc.returncode == 2 and words in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").glob("*.parquet"))


def test_a_local_cluster_that_cannot_start_is_a_one_line_error(tmp_path):
    """Workers that die while starting (here: a preload module that does not exist) end the run with exit 2 and a
    line that says what to try; Dask's own log of the worker's death comes before it."""
    proc = cli("run", "--quick", "--task", "toy-blobs", "--plugins-dir", str(GOOD), "--store", str(tmp_path / "store"),
               "--executor", "dask", "--workers", "1",
               env={**ENV_BLOCK, "DASK_DISTRIBUTED__WORKER__PRELOAD": '["benchsuite_no_such_module"]'})
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("benchsuite: error: could not start a local Dask cluster of 1 workers") and \
        "pass --scheduler ADDRESS" in last, proc.stderr
    assert not list((tmp_path / "store").glob("*.parquet"))


def test_dask_timing_yaml_holds_the_quiet_settings():
    import yaml

    from benchsuite.execution.daskquiet import QUIET, YAML, louder

    def flat(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    assert dict(flat(yaml.safe_load(YAML.read_text()))) == dict(QUIET)
    assert louder(QUIET) == [] and louder({**QUIET, "distributed.admin.tick.interval": "2s"}) == []
    assert louder({**QUIET, "distributed.admin.tick.interval": "20ms"}) == ["distributed.admin.tick.interval=20ms"]
    assert louder({**QUIET, "distributed.worker.profile.enabled": True}) == ["distributed.worker.profile.enabled=True"]


def test_the_local_cluster_is_quiet_and_a_loud_cluster_is_named(request):
    """benchsuite's LocalCluster runs without Dask's profiler and fast ticks; an existing cluster whose workers
    run them gets a warning that names the settings and the YAML file to start the workers with."""
    if in_fresh_process(request):
        return
    import logging

    import distributed

    from benchsuite.execution.daskquiet import QUIET, YAML, worker_settings
    from benchsuite.execution.dask_cluster import DaskExecutor
    from benchsuite.execution.limits import Limits

    warnings: list[str] = []
    quiet = DaskExecutor(Limits(60), "cell", workers=2, progress=False, warn=warnings.append)
    try:
        assert list(quiet.client.run(worker_settings).values()) == [dict(QUIET)] * 2
    finally:
        quiet.close()
    assert warnings == []

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as loud_cluster:
        loud = DaskExecutor(Limits(60), "cell", scheduler=loud_cluster.scheduler_address, progress=False,
                            warn=warnings.append)
        loud.close()
    assert len(warnings) == 1
    assert "distributed.worker.profile.enabled=True" in warnings[0] and "tick.interval=20ms" in warnings[0]
    assert f"DASK_CONFIG={YAML}" in warnings[0]
