import pandas as pd
import pytest

import benchsuite
from benchsuite.errors import StoreError
from benchsuite.results.schema import COLUMNS, SCHEMA, SCHEMA_VERSION
from benchsuite.results.store import ResultStore
from benchsuite.results.frames import to_frame

from conftest import make_row as row


def test_round_trip_keeps_values_types_and_order(tmp_path):
    store = ResultStore(tmp_path / "s")
    store.append([row(), row(method="dynamic-int8", score=0.8)])
    store.append([row(run_id="r2", status="failed", error="boom", score=None)])
    frame = benchsuite.load_results(tmp_path / "s")
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 3 and frame["schema_version"].eq(SCHEMA_VERSION).all()
    assert frame.loc[1, "score"] == pytest.approx(0.8)
    assert pd.isna(frame.loc[2, "score"]) and frame.loc[2, "error"] == "boom"
    # every column comes back with its schema dtype; timestamps as UTC datetimes (Parquet keeps their unit:
    # created_at reads back in µs, timing_started_at in ms, though the schema says ns)
    stamps = [c.name for c in SCHEMA if c.dtype.startswith("datetime64")]
    assert {c.name: str(frame[c.name].dtype) for c in SCHEMA if c.name not in stamps} == {
        c.name: c.dtype for c in SCHEMA if c.name not in stamps}
    assert stamps and all(isinstance(frame[c].dtype, pd.DatetimeTZDtype) and str(frame[c].dtype.tz) == "UTC"
                          for c in stamps)


def test_append_is_atomic_and_never_rewrites(tmp_path):
    store = ResultStore(tmp_path)
    first = store.append([row()])
    before = first.read_bytes()
    store.append([row(run_id="r2")])
    assert first.read_bytes() == before
    assert not list(tmp_path.glob(".tmp-*"))
    assert len(store.files()) == 2


def test_rows_must_match_the_schema(tmp_path):
    with pytest.raises(StoreError, match="unexpected \\['bogus'\\]"):
        ResultStore(tmp_path).append([row(bogus=1)])
    assert ResultStore(tmp_path).files() == []


def test_empty_or_missing_store_reads_as_empty_frame(tmp_path):
    frame = benchsuite.load_results(tmp_path / "missing")
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    store = ResultStore(tmp_path)
    frame = to_frame([row()])
    frame["schema_version"] = SCHEMA_VERSION + 1
    frame.to_parquet(tmp_path / "results-future.parquet")
    with pytest.raises(StoreError, match="upgrade benchsuite"):
        store.read()


def test_store_env_variable_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_STORE", str(tmp_path))
    ResultStore().append([row()])
    assert len(benchsuite.load_results()) == 1


def test_store_of_schema_3_gains_an_empty_extra_scores_column(tmp_path):
    frame = to_frame([row()]).drop(columns=["extra_scores", "allocator"]).assign(schema_version=3)
    (tmp_path / "s").mkdir()
    frame.to_parquet(tmp_path / "s" / "results-v3.parquet")
    out = ResultStore(tmp_path / "s").read()
    assert list(out.columns) == list(COLUMNS) and out["schema_version"].eq(SCHEMA_VERSION).all()
    assert out["extra_scores"].tolist() == [""] and out["score"].tolist() == frame["score"].tolist()
    assert out["allocator"].tolist() == ["system (before schema 4)"]  # v3 timed with the C library's defaults


def test_read_can_leave_out_columns_and_keeps_the_rest_typed(tmp_path):
    store = ResultStore(tmp_path / "s")
    skip = ("latency_samples_ms", "latency_b1_samples_ms")
    assert list(store.read(exclude=skip).columns) == [c for c in COLUMNS if c not in skip]  # empty store
    store.append([row(latency_samples_ms=[1.0, 2.0], score=0.5)])
    frame = store.read(exclude=skip)
    assert not set(skip) & set(frame.columns) and len(frame.columns) == len(COLUMNS) - 2
    assert frame["score"].tolist() == [0.5] and str(frame["threads"].dtype) == "Int64"
