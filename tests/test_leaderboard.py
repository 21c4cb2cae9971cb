from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from benchsuite.store import ResultStore, to_frame
from benchsuite_leaderboard import data

from conftest import REPO, make_row

APP = str(REPO / "leaderboard" / "app.py")
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def rows():
    return [
        make_row(task="mnist-cnn", method="baseline", score=0.99, latency_p50_ms=4.0, model_size_bytes=1000,
                 realized_speedup=1.0, size_ratio=1.0, created_at=T0),
        make_row(task="mnist-cnn", method="dynamic-int8", score=0.985, latency_p50_ms=3.0, model_size_bytes=300,
                 realized_speedup=1.33, size_ratio=0.3, created_at=T0),
        make_row(task="mnist-cnn", method="magnitude-pruning", params='{"sparsity":0.5}', score=0.99,
                 latency_p50_ms=3.5, model_size_bytes=1000, created_at=T0),
        make_row(task="mnist-cnn", method="dynamic-int8", score=0.5, quick=True, created_at=T0),
        make_row(task="mnist-cnn", method="broken", status="failed", error="boom", score=None, created_at=T0),
        make_row(task="sentiment-minilm", method="baseline", score=0.82, latency_p50_ms=30.0, created_at=T0),
        make_row(task="sentiment-minilm", method="baseline", score=0.81, latency_p50_ms=31.0,
                 backend="torch-other", created_at=T0),
    ]


def frame():
    return to_frame(rows())


def test_ranking_follows_score_then_latency_and_hides_quick_and_failed():
    table = data.leaderboard(frame(), "mnist-cnn")
    assert table["method"].tolist() == ["magnitude-pruning:sparsity=0.5", "baseline", "dynamic-int8"]
    assert table["rank"].tolist() == [1, 2, 3]
    with_quick = data.leaderboard(frame(), "mnist-cnn", include_quick=True)
    assert len(with_quick) == 3  # the quick duplicate of dynamic-int8 config is older-or-equal; newest kept


def test_lower_is_better_metrics_rank_ascending():
    f = frame()
    f["higher_is_better"] = False
    assert data.leaderboard(f, "mnist-cnn")["method"].iloc[0] == "dynamic-int8"


def test_newest_result_per_configuration_wins():
    later = make_row(task="mnist-cnn", method="baseline", score=0.5, latency_p50_ms=4.0, created_at=T0 + timedelta(days=1))
    table = data.leaderboard(to_frame(rows() + [later]), "mnist-cnn")
    assert table.loc[table["method"] == "baseline", "score ↑"].tolist() == [0.5]


def test_only_the_newest_task_version_is_ranked():
    newer = make_row(task="mnist-cnn", task_version="2", method="baseline", score=0.97, created_at=T0)
    table = data.leaderboard(to_frame(rows() + [newer]), "mnist-cnn")
    assert table["method"].tolist() == ["baseline"]


def test_backend_filter_and_units_in_headers():
    table = data.leaderboard(frame(), "sentiment-minilm", backends=["torch-other"])
    assert table["backend"].tolist() == ["torch-other"]
    assert "p50 latency ms ↓" in table.columns and "size MB ↓" in table.columns
    assert table["size MB ↓"].iloc[0] == pytest.approx(0.001)


def run_app(store, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=60)
    return at.run()


def test_app_shows_a_table_per_task_and_filters(tmp_path, monkeypatch):
    ResultStore(tmp_path).append(rows())
    at = run_app(tmp_path, monkeypatch)
    assert not at.exception
    assert [s.value for s in at.subheader] == ["mnist-cnn", "sentiment-minilm"]
    assert len(at.dataframe) == 2
    assert at.dataframe[0].value["method"].tolist() == ["magnitude-pruning:sparsity=0.5", "baseline", "dynamic-int8"]
    task_filter = next(m for m in at.sidebar.multiselect if m.label == "Task")
    task_filter.set_value(["sentiment-minilm"]).run()
    assert [s.value for s in at.subheader] == ["sentiment-minilm"]
    backend_filter = next(m for m in at.sidebar.multiselect if m.label == "Backend")
    backend_filter.set_value(["torch-other"]).run()
    assert at.dataframe[0].value["backend"].tolist() == ["torch-other"]
    at.sidebar.checkbox[0].check().run()
    assert not at.exception


def test_app_empty_missing_and_failed_only_stores_explain_themselves(tmp_path, monkeypatch):
    at = run_app(tmp_path / "missing", monkeypatch)
    assert not at.exception and "No results in" in at.info[0].value
    ResultStore(tmp_path / "failed").append([make_row(status="failed", error="boom", score=None)])
    at = run_app(tmp_path / "failed", monkeypatch)
    assert not at.exception and "No successful runs to rank (1 failed)" in at.warning[0].value


def test_app_reports_an_unreadable_store_without_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "results-bad.parquet").write_bytes(b"not parquet")
    at = run_app(tmp_path, monkeypatch)
    assert not at.exception and "Cannot read the results store" in at.error[0].value


def test_every_display_format_names_a_table_column():
    assert set(data.FORMATS) <= set(data.TABLE_COLUMNS.values())
