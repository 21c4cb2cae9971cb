"""pytest-benchmark benchmarks of benchsuite's own hot paths (not run by the test suite; see the README).

    pytest benchmarks/ --benchmark-autosave          # saves .benchmarks/<machine>/0001_*.json
    pytest-benchmark compare 0001 0002               # compare two saved runs
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from benchsuite.measure import TimingPolicy, time_latency, wall_clock_call
from benchsuite.store import COLUMNS, SCHEMA, ResultStore
from benchsuite_leaderboard import data

SIZES = [10**5, 10**6]


def _noop(*_args):
    return None


def synthetic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` plausible ok rows over 2 tasks, 40 configurations and 3 backends, in the store's schema."""
    rng = np.random.default_rng(seed)
    columns = {}
    for column in SCHEMA:
        if column.dtype == "float64":
            columns[column.name] = rng.random(n)
        elif column.dtype == "Int64":
            columns[column.name] = pd.array(rng.integers(1, 10**6, n), dtype="Int64")
        elif column.dtype == "boolean":
            columns[column.name] = pd.array(np.zeros(n, dtype=bool), dtype="boolean")
        elif column.dtype == "object":
            columns[column.name] = [None] * n
        elif column.dtype.startswith("datetime"):
            columns[column.name] = pd.Timestamp(datetime.now(timezone.utc)) + pd.to_timedelta(np.arange(n), "s")
        else:
            columns[column.name] = pd.array(np.full(n, "x", dtype=object), dtype="string")
    frame = pd.DataFrame(columns)
    frame["schema_version"] = pd.array(np.full(n, 3), dtype="Int64")
    frame["status"] = "ok"
    frame["task_version"] = "1"
    frame["task"] = np.where(np.arange(n) % 2 == 0, "mnist-cnn", "sentiment-minilm")
    frame["config"] = pd.array([f"method-{i % 40}" for i in range(n)], dtype="string")
    frame["params"] = frame["config"]
    frame["backend"] = pd.array(np.array(["torch-cpu", "torch-compile", "onnxruntime"])[np.arange(n) % 3],
                                dtype="string")
    frame["higher_is_better"] = pd.array(np.ones(n, dtype=bool), dtype="boolean")
    return frame[list(COLUMNS)]


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n:.0e}rows")
def big_store(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"store{request.param}")
    synthetic_frame(request.param).to_parquet(path / "results-00000000T000000000000-bulk.parquet", index=False)
    return request.param, ResultStore(path)


def one_row() -> dict:
    base = {c: None for c in COLUMNS if c != "schema_version"}
    base.update(run_id="bench", created_at=datetime.now(timezone.utc), status="ok", error="", quick=False,
                task="mnist-cnn", task_version="1", config="baseline", method="baseline", params="{}",
                backend="torch-cpu", score=0.99, latency_p50_ms=1.0, higher_is_better=True)
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


def test_leaderboard_table(benchmark, big_store):
    """The leaderboard's data preparation for one task: filter, newest per configuration, rank, format."""
    n, store = big_store
    frame = store.read()
    table = benchmark.pedantic(data.leaderboard, args=(frame, "mnist-cnn"), rounds=3, iterations=1)
    assert 0 < len(table) <= n
