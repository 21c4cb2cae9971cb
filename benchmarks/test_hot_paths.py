"""pytest-benchmark benchmarks of benchsuite's own hot paths (not run by the test suite; see the README).

    pytest benchmarks/ --benchmark-autosave          # saves .benchmarks/<machine>/0001_*.json
    pytest-benchmark compare 0001 0002               # compare two saved runs
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from benchsuite.measure.policy import TimingPolicy
from benchsuite.measure.timing import time_latency
from benchsuite.measure.counts import wall_clock_call
from benchsuite.results.schema import COLUMNS
from benchsuite.results.store import ResultStore
from benchsuite_leaderboard import data
from synthetic import synthetic_frame

SIZES = [10**5, 10**6]


def _noop(*_args):
    return None


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n:.0e}rows")
def big_store(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"store{request.param}")
    synthetic_frame(request.param).to_parquet(path / "results-00000000T000000000000-bulk.parquet", index=False)
    return request.param, ResultStore(path)


def one_row() -> dict:
    base = {c: None for c in COLUMNS if c != "schema_version"}
    base.update(run_id="bench", created_at=datetime.now(timezone.utc), status="ok", error="", quick=False,
                task="mnist-cnn", task_version="1", config="baseline", method="baseline", params="{}",
                backend="torch-cpu", score=0.99, latency_p50_ms=1.0, latency_b1_p50_ms=0.5,
                higher_is_better=True)
    return base


def test_timed_call_overhead(benchmark):
    """One harness-timed call of a function that does nothing: clock reads and dispatch."""
    benchmark(wall_clock_call, _noop, ())


def test_time_latency_of_a_noop(benchmark):
    """A whole quick timing (warm-up + 1,000 timed calls) of a no-op."""
    policy = TimingPolicy(warmup_calls=10, warmup_seconds=0.0, max_warmup_seconds=0.0, min_calls=1000,
                          min_seconds=0.0)
    stats = benchmark(time_latency, _noop, (), policy)
    assert stats.samples == 1000


def test_store_append_one_row(benchmark, big_store):
    """Appending a finished row never touches the existing files: its cost does not grow with the store."""
    _, store = big_store
    row = one_row()
    benchmark(store.append, [row])


def test_store_read(benchmark, big_store):
    n, store = big_store
    frame = benchmark.pedantic(store.read, rounds=3, iterations=1)
    assert len(frame) >= n


def test_leaderboard_prepare(benchmark, big_store):
    """What the leaderboard computes once per store load: derived columns, row keys."""
    n, store = big_store
    frame = store.read(exclude=data.UNUSED_COLUMNS)
    prepared = benchmark.pedantic(data.prepare, args=(frame,), rounds=3, iterations=1)
    assert len(prepared) == n


def test_leaderboard_table(benchmark, big_store):
    """What a filter change computes: filter, newest per configuration, Pareto rank per machine, the table."""
    n, store = big_store
    frame = data.prepare(store.read(exclude=data.UNUSED_COLUMNS))

    def table():
        return data.table(data.select(frame, data.Filters("mnist-cnn")))

    shown = benchmark.pedantic(table, rounds=3, iterations=1)
    assert 0 < len(shown) <= data.MAX_TABLE_ROWS
