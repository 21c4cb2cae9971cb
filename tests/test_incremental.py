"""Incremental runs: what the store holds is not run again, what the artifact cache holds is not compressed again,
and accuracy-only rows never stand in for timed ones."""

from __future__ import annotations

import pytest

from conftest import GOOD, HERE, NO_SLOW_BACKENDS, plugins_folder


class RecordingExecutor:
    """The local executor, recording the cells it was given."""

    def __init__(self, options, plugins):
        from benchsuite.execution.executors import LocalExecutor

        self.inner = LocalExecutor(options.limits, options.isolate, plugins)
        self.name, self.cells = "local", []

    def machine(self):
        return self.inner.machine()

    def run(self, work):
        self.cells.extend(work)
        return self.inner.run(work)

    def close(self):
        pass


def test_accuracy_only_rows_then_a_full_run_times_them_then_nothing_runs(toy_plugins, toy_cache, one_thread,
                                                                        tmp_path):
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.results.store import ResultStore

    store = ResultStore(tmp_path / "store")
    grid = build_grid(toy_plugins, ["toy-blobs"], ["baseline", "toy-halve"], ["torch-cpu"])
    quick = dict(quick=True, isolate="none")
    untimed = run_grid(toy_plugins, grid, RunOptions(**quick, timed=False), store, progress=False)
    assert [r["status"] for r in untimed] == ["ok", "ok"]
    assert all(r["timed"] is False and r["latency_p50_ms"] is None and r["score"] == 1.0 for r in untimed)
    assert untimed[1]["baseline_score"] == 1.0 and untimed[1]["realized_speedup"] is None

    options = RunOptions(**quick)
    executor = RecordingExecutor(options, toy_plugins)
    timed = run_grid(toy_plugins, grid, options, store, progress=False, executor=executor)
    assert len(executor.cells) == 2  # accuracy-only rows do not count as done for a timed run
    assert all(r["timed"] is True and r["latency_p50_ms"] > 0 for r in timed)
    assert timed[1]["realized_speedup"] > 0

    again = RecordingExecutor(options, toy_plugins)
    assert run_grid(toy_plugins, grid, options, store, progress=False, executor=again) == []
    assert again.cells == []  # nothing compressed, nothing timed
    untimed_again = RecordingExecutor(options, toy_plugins)
    assert run_grid(toy_plugins, grid, RunOptions(**quick, timed=False), store, progress=False,
                    executor=untimed_again) == []
    assert untimed_again.cells == []
    assert len(store.read()) == 4


@pytest.fixture
def slow_plugins_dir(tmp_path):
    return plugins_folder(tmp_path / "plugins", GOOD / "toy_task.py", HERE / "plugins" / "dask" / "dask_methods.py")


def test_a_second_backend_and_a_forced_rerun_load_the_compressed_model_from_the_cache(slow_plugins_dir, tmp_path,
                                                                                    monkeypatch):
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.results.store import ResultStore

    log = tmp_path / "applies.txt"
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCHSUITE_TEST_APPLY_LOG", str(log))
    plugins = load_plugins(slow_plugins_dir, warn=lambda m: None, environ=NO_SLOW_BACKENDS)
    grid = build_grid(plugins, ["toy-blobs"], ["slow-halve:seconds=0.5"], ["torch-cpu:threads=1",
                                                                           "torch-cpu:threads=2"])
    store = ResultStore(tmp_path / "store")
    rows = run_grid(plugins, grid, RunOptions(quick=True, isolate="run"), store, progress=False)
    halves = [r for r in rows if r["method"] == "slow-halve"]
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert [r["compression_cached"] for r in halves] == [False, True]  # one worker per backend, one compression
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["0"]
    assert halves[1]["compress_seconds"] == halves[0]["compress_seconds"]  # the cost of the compression made once
    assert halves[0]["artifact_sha256"] == halves[1]["artifact_sha256"]

    forced = run_grid(plugins, grid, RunOptions(quick=True, isolate="cell", force=True), store, progress=False)
    assert [r["compression_cached"] for r in forced if r["method"] == "slow-halve"] == [True, True]
    assert len(log.read_text().splitlines()) == 1
    fresh = run_grid(plugins, grid, RunOptions(quick=True, isolate="cell", force=True, cache=False), store,
                     progress=False)
    assert [r["compression_cached"] for r in fresh if r["method"] == "slow-halve"] == [False, False]
    assert len(log.read_text().splitlines()) == 2
