"""Run keys (benchsuite/results/keys.py): what a run measured, as a short stable hash; equal runs get one key
however their values are spelt, and any change to what was measured gives another. (The round trip through the
store's Parquet files is in test_store_safety.py.)"""

import numpy as np
import pandas as pd
import pytest

from benchsuite.results.keys import RUN_KEY_COLUMNS, run_key, run_keys

from conftest import make_row as row

BASE = row(seed=1, finetune_budget_steps=500, finetune_budget_seconds=900.0, params='{"a":1,"b":[2,3]}',
           backend_params='{"threads":1,"emulated":false}', config="m:a=1", method_version="1",
           hardware_fingerprint="abc", track="closed")

#: a different value for every key column
CHANGED = {"task": "other", "task_version": "2", "config": "m:a=2", "method_version": "2", "params": '{"a":2,"b":[2,3]}',
           "backend": "onnxruntime", "backend_params": '{"threads":2,"emulated":false}', "hardware_fingerprint": "x",
           "seed": 2, "quick": True, "track": "open", "finetune_budget_steps": 0, "finetune_budget_seconds": 900.5}


def test_the_key_is_16_hex_digits():
    key = run_key(BASE)
    assert len(key) == 16 and set(key) <= set("0123456789abcdef")
    assert run_key(dict(BASE)) == key


@pytest.mark.parametrize("column", ["params", "backend_params"])
def test_the_key_does_not_depend_on_the_order_or_spacing_of_parameters(column):
    value = {"params": '{"a":1,"b":[2,3]}', "backend_params": '{"threads":1,"emulated":false}'}[column]
    reordered = {"params": '{"b": [2, 3], "a": 1}', "backend_params": '{ "emulated": false, "threads": 1 }'}[column]
    assert run_key({**BASE, column: reordered}) == run_key({**BASE, column: value})
    # a list keeps its order: [3, 2] is another parameter value
    assert run_key({**BASE, "params": '{"a":1,"b":[3,2]}'}) != run_key(BASE)


def test_the_key_does_not_depend_on_the_order_of_the_rows_columns():
    assert run_key(dict(reversed(list(BASE.items())))) == run_key(BASE)


@pytest.mark.parametrize("column", RUN_KEY_COLUMNS)
def test_a_change_in_any_key_column_gives_another_key(column):
    assert set(CHANGED) == set(RUN_KEY_COLUMNS)  # every key column is tried
    assert run_key({**BASE, column: CHANGED[column]}) != run_key(BASE)
    assert run_key({**BASE, column: None}) != run_key(BASE)


def test_columns_outside_the_key_do_not_change_it():
    other = {**BASE, "run_id": "r2", "created_at": None, "status": "failed", "error": "boom", "score": 0.1,
             "latency_p50_ms": 99.0, "cpu_model": "another CPU"}
    assert run_key(other) == run_key(BASE)
    assert run_key({c: BASE[c] for c in RUN_KEY_COLUMNS}) == run_key(BASE)  # the key columns alone suffice


def test_equal_values_of_other_types_give_the_same_key():
    numpy = {**BASE, "seed": np.int64(1), "finetune_budget_steps": np.int32(500),
             "finetune_budget_seconds": np.float64(900), "quick": np.bool_(False)}
    assert run_key(numpy) == run_key(BASE)
    assert run_key({**BASE, "finetune_budget_seconds": 900}) == run_key(BASE)  # 900 and 900.0
    assert run_key({**BASE, "seed": 1.0}) == run_key(BASE)
    # every kind of missing value is one value, and it is not 0 or ""
    missing = {run_key({**BASE, "seed": v}) for v in (None, pd.NA, np.nan, float("nan"))}
    assert len(missing) == 1 and missing.isdisjoint({run_key({**BASE, "seed": 0}), run_key(BASE)})
    assert run_key({**BASE, "task_version": None}) != run_key({**BASE, "task_version": ""})
    # True is not 1: a boolean column and an integer column never collide
    assert run_key({**BASE, "seed": True}) != run_key(BASE)


def test_params_that_are_not_json_are_keyed_as_text():
    assert run_key({**BASE, "params": "not json"}) == run_key({**BASE, "params": "not json"})
    assert run_key({**BASE, "params": "not json"}) != run_key({**BASE, "params": "not  json"})


def test_run_keys_of_a_frame_are_the_keys_of_its_rows():
    rows = [BASE, {**BASE, "seed": 2}, {**BASE, "params": '{"b":[2,3],"a":1}'}, {**BASE, "task_version": None}]
    frame = pd.DataFrame(rows)
    keys = run_keys(frame)
    assert keys == [run_key(r) for r in rows]
    assert keys[0] == keys[2] and len(set(keys)) == 3
    # a column the frame lacks counts as missing in every row
    assert run_keys(frame.drop(columns=["hardware_fingerprint"])) == [
        run_key({**r, "hardware_fingerprint": None}) for r in rows]
    assert run_keys(frame.iloc[:0]) == []
