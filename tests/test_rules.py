"""The rules every stored row obeys (benchsuite/results/rules.py), checked directly: which problems `row_problems`
finds, in what order, and the one-line message of each. (test_store_safety.py checks that the store refuses such
rows and writes nothing.)"""

import pytest

from benchsuite.errors import StoreError
from benchsuite.results.frames import to_frame
from benchsuite.results.rules import RowProblem, row_label, row_problems, validate
from benchsuite.results.schema import MEASURED, REQUIRED, STATUSES

from conftest import make_row

INF, NAN = float("inf"), float("nan")


def frame_of(*rows, index=None):
    """The typed frame of `rows` (unchecked: rules are what is under test), with `index` as its labels."""
    frame = to_frame(rows, validate=False)
    if index is not None:
        frame.index = index
    return frame


def problems_of(**overrides):
    """(column, message) of every problem of one row."""
    return [(p.column, p.message) for p in row_problems(frame_of(make_row(**overrides)))]


def test_a_valid_row_and_an_empty_frame_have_no_problems():
    assert row_problems(frame_of(make_row())) == []
    assert row_problems(frame_of()) == []
    validate(frame_of(make_row()))  # returns


@pytest.mark.parametrize("column", MEASURED)
@pytest.mark.parametrize("value", [NAN, None])
def test_a_measured_row_needs_a_finite_value_in_each_measured_column(column, value):
    assert problems_of(**{column: value}) == [
        (column, f"{column} is NaN; a measured (ok) row needs a finite {column}")]


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "ok"])
def test_a_row_that_is_not_ok_may_leave_every_measured_column_empty(status):
    assert problems_of(status=status, error="why", **dict.fromkeys(MEASURED)) == []


def test_an_accuracy_only_row_may_leave_its_latencies_empty_but_not_its_score():
    untimed = dict(timed=False, latency_p50_ms=None, latency_b1_p50_ms=None)
    assert problems_of(**untimed) == []
    assert problems_of(**untimed, score=NAN) == [("score", "score is NaN; a measured (ok) row needs a finite score")]
    assert problems_of(timed=True, latency_b1_p50_ms=None) == [
        ("latency_b1_p50_ms", "latency_b1_p50_ms is NaN; a measured (ok) row needs a finite latency_b1_p50_ms")]


@pytest.mark.parametrize("column, value, shown", [
    ("latency_p50_ms", INF, "inf"), ("score", -INF, "-inf"), ("realized_speedup", INF, "inf"),
    ("latency_p99_ms", INF, "inf"),  # any float column, not just the measured ones
])
@pytest.mark.parametrize("status", ["ok", "failed"])
def test_an_infinite_number_is_refused_in_any_row(column, value, shown, status):
    assert problems_of(status=status, error="" if status == "ok" else "why", **{column: value}) == [
        (column, f"{column} is {shown}; a stored number must be finite (or empty)")]


def test_only_the_first_infinite_column_of_a_row_is_reported():
    # one derived column holds each row's first infinite column: later ones show once that one is fixed
    assert problems_of(score=INF, latency_p50_ms=INF) == [
        ("score", "score is inf; a stored number must be finite (or empty)")]


@pytest.mark.parametrize("column", REQUIRED)
def test_every_row_needs_each_required_column(column):
    assert problems_of(**{column: None}) == [(column, f"{column} is missing; every row needs a {column}")]
    if column != "status":
        assert problems_of(**{column: ""}) == [(column, f"{column} is empty; every row needs a {column}")]


def test_a_row_without_a_required_column_is_refused_before_the_rules():
    row = make_row()
    del row["task"]
    with pytest.raises(StoreError, match=r"^row does not match schema v\d+: unexpected \[\], missing \['task'\]$"):
        to_frame([row], validate=False)


@pytest.mark.parametrize("status, shown", [("weird", "'weird'"), ("OK", "'OK'"), ("", "empty")])
def test_an_unknown_status_is_refused_naming_the_known_ones(status, shown):
    assert ("status", f"status is {shown}; it must be one of ok, failed, skipped, timeout, crashed") in \
        problems_of(status=status)


def test_problems_come_in_row_order_then_column_order_with_the_rows_labels():
    frame = frame_of(make_row(),
                     make_row(task="", status="weird", config="toy-halve:factor=0.5"),
                     make_row(task="mnist-cnn", method="m", config=None, backend="onnxruntime", score=NAN),
                     index=[10, 11, 12])
    problems = row_problems(frame)
    assert problems == [
        RowProblem(11, "? × toy-halve:factor=0.5 × torch-cpu", "status",
                   "status is 'weird'; it must be one of ok, failed, skipped, timeout, crashed"),
        RowProblem(11, "? × toy-halve:factor=0.5 × torch-cpu", "task", "task is empty; every row needs a task"),
        RowProblem(12, "mnist-cnn × m × onnxruntime", "score",
                   "score is NaN; a measured (ok) row needs a finite score"),
    ]
    assert problems[2].line == "row mnist-cnn × m × onnxruntime: score is NaN; a measured (ok) row needs a finite score"


def test_row_label_falls_back_to_the_method_and_marks_what_is_missing():
    assert row_label(frame_of(make_row(config="a > b")).iloc[0]) == "t × a > b × torch-cpu"
    assert row_label(frame_of(make_row(config=None, task=None, backend="")).iloc[0]) == "? × baseline × ?"


def test_validate_raises_the_first_problem_and_counts_the_rest():
    with pytest.raises(StoreError) as info:
        validate(frame_of(make_row(score=NAN), make_row(status="weird", backend="")))
    assert str(info.value) == ("row t × baseline × torch-cpu: score is NaN; a measured (ok) row needs a finite score "
                               "(and 2 more problems)")
    with pytest.raises(StoreError) as info:
        validate(frame_of(make_row(), make_row(latency_p50_ms=INF)))
    assert str(info.value) == "row t × baseline × torch-cpu: latency_p50_ms is inf; a stored number must be finite (or empty)"
