"""The interleaved local-vs-Dask timing comparison (benchmarks/executor_ab.py): its arithmetic and run order."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "executor_ab.py"
_spec = importlib.util.spec_from_file_location("executor_ab", _PATH)
executor_ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(executor_ab)


def _runs(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (config, executor), p50s in values.items():
        for round_, p50 in enumerate(p50s):
            rows.append({"task": "mnist-cnn", "config": config, "backend": "torch-cpu", "executor": executor,
                         "round": round_, "latency_p50_ms": p50, "timing_background_cpu": 0.01})
    return pd.DataFrame(rows)


def test_ratio_of_medians_and_spread_per_executor():
    table = executor_ab.compare(_runs({("baseline", "local"): [10.0, 11.0, 12.0],
                                       ("baseline", "dask"): [13.0, 15.0, 14.0]}))
    row = table.iloc[0]
    assert row["local_p50_ms"] == 11.0 and row["dask_p50_ms"] == 14.0
    assert row["ratio"] == pytest.approx(14 / 11)
    assert row["local_spread"] == pytest.approx(1.2) and row["dask_spread"] == pytest.approx(15 / 13)
    assert bool(row["beyond_noise"])  # 1.27 is more than either executor's own 1.2 and 1.15 spread


def test_a_difference_inside_the_noise_is_not_flagged():
    table = executor_ab.compare(_runs({("bf16", "local"): [10.0, 13.0], ("bf16", "dask"): [11.0, 12.0],
                                       ("only-local", "local"): [5.0]}))
    assert list(table["config"]) == ["bf16"]  # a configuration one executor lacks is left out
    assert not bool(table.iloc[0]["beyond_noise"])
    assert "1 configurations" in executor_ab.summary(table) and "0 beyond" in executor_ab.summary(table)


def test_rounds_alternate_which_executor_goes_first():
    assert [executor_ab.order(r) for r in range(3)] == [("local", "dask"), ("dask", "local"), ("local", "dask")]


def test_compare_without_round_stores_says_what_to_do(tmp_path):
    (tmp_path / "warmup").mkdir()
    with pytest.raises(SystemExit, match="no round stores .* run `run` first"):
        executor_ab.runs_frame(tmp_path)


def test_round_stores_are_read_with_their_round_and_executor(tmp_path):
    from benchsuite.results.store import ResultStore
    from conftest import make_row

    ResultStore(tmp_path / "warmup").append([make_row(latency_p50_ms=99.0)])  # the warm-up run is not compared
    ResultStore(tmp_path / "r0-local").append([make_row(latency_p50_ms=10.0),
                                                make_row(status="crashed", latency_p50_ms=None, config="other")])
    ResultStore(tmp_path / "r0-dask").append([make_row(latency_p50_ms=12.0)])
    runs = executor_ab.runs_frame(tmp_path)
    assert sorted(zip(runs["executor"], runs["round"], runs["latency_p50_ms"])) == [("dask", 0, 12.0),
                                                                                   ("local", 0, 10.0)]
    assert executor_ab.compare(runs).iloc[0]["ratio"] == pytest.approx(1.2)
