"""The rules every stored row obeys, as a pandera schema derived from the store's SCHEMA.

`ResultStore.append` refuses a frame that breaks them (nothing is written); `benchsuite store check` lists every
row that breaks them. pandera checks the required columns and a few derived ones (below) and reports the failing
rows; the messages, one line each, name the row, the column and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from benchsuite.errors import StoreError
from benchsuite.results.schema import MEASURED, REQUIRED, SCHEMA, STATUSES

#: MEASURED columns an ok row leaves empty when it was not timed (`--accuracy-only`)
TIMED_ONLY = ("latency_p50_ms", "latency_b1_p50_ms")

FLOATS = tuple(c.name for c in SCHEMA if c.dtype == "float64")
#: a measured (ok) row's value of each MEASURED column is checked in a column of its own: the frame's value for
#: ok rows, 0 for the others (their empty cells are allowed)
_MEASURED_PREFIX = "measured:"
#: the first float column of each row that holds an infinity (empty when none does): one checked column instead of
#: one per float column keeps a one-row append's validation cheap
_INFINITE = "first infinite column"


@dataclass(frozen=True)
class RowProblem:
    """One value of one row that breaks a rule."""

    index: Any  # the row's label in the checked frame
    row: str  # "task × config × backend"
    column: str
    message: str  # "<column> is <value>; <why>"

    @property
    def line(self) -> str:
        return f"row {self.row}: {self.message}"


@lru_cache(maxsize=1)
def _schema() -> Any:
    import pandera.pandas as pa

    columns = {}
    for name in REQUIRED:
        checks = [pa.Check(lambda s: s.str.len() > 0, name="non_empty")]
        if name == "status":
            checks.append(pa.Check(lambda s: s.isin(STATUSES), name="known_status"))
        columns[name] = pa.Column(None, checks, nullable=False)
    columns[_INFINITE] = pa.Column(None, pa.Check(lambda s: s.isna(), ignore_na=False, name="finite"),
                                   nullable=True)
    for name in MEASURED:
        columns[_MEASURED_PREFIX + name] = pa.Column(
            None, pa.Check(lambda s: s.notna(), ignore_na=False, name="measured"), nullable=True)
    return pa.DataFrameSchema(columns)


def _view(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns pandera checks: the required ones as they are, and the derived ones above."""
    import numpy as np

    not_ok = frame["status"].ne("ok").fillna(True).astype(bool)
    untimed = not_ok | frame["timed"].eq(False).fillna(False).astype(bool)  # --accuracy-only rows: no latency
    derived = {_MEASURED_PREFIX + c: frame[c].mask(untimed if c in TIMED_ONLY else not_ok, 0.0) for c in MEASURED}
    infinite = np.isinf(frame[list(FLOATS)].to_numpy(dtype="float64", na_value=np.nan))
    first = np.asarray(FLOATS, dtype=object)[infinite.argmax(axis=1)]
    derived[_INFINITE] = pd.Series(np.where(infinite.any(axis=1), first, None), index=frame.index, dtype=object)
    return pd.concat([frame[list(REQUIRED)], pd.DataFrame(derived, index=frame.index)], axis=1)


def row_problems(frame: pd.DataFrame) -> list[RowProblem]:
    """Every rule broken by a row of `frame` (typed, with the schema's columns), in row order."""
    import pandera.errors

    if frame.empty:
        return []
    try:
        _schema().validate(_view(frame), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    order = {name: i for i, name in enumerate(frame.columns)}
    positions = {label: i for i, label in enumerate(frame.index)}
    problems = []
    for case in cases.itertuples(index=False):
        column = str(case.failure_case) if case.column == _INFINITE else str(case.column)
        if column.startswith(_MEASURED_PREFIX):
            column = column[len(_MEASURED_PREFIX):]
        if case.index is None or column not in frame.columns or case.index not in positions:
            raise StoreError(f"rows do not match schema: {column}: {case.check}")  # a frame-wide failure
        value = frame.at[case.index, column]
        problems.append(RowProblem(case.index, row_label(frame.loc[case.index]), column,
                                   _message(column, value, str(case.check))))
    problems.sort(key=lambda p: (positions[p.index], order[p.column]))
    return list({(p.index, p.column): p for p in problems}.values())


def validate(frame: pd.DataFrame) -> None:
    """Raise StoreError naming the first broken rule (and how many more there are); return if there is none."""
    problems = row_problems(frame)
    if problems:
        more = len(problems) - 1
        more = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise StoreError(problems[0].line + more)


def row_label(row: pd.Series) -> str:
    """How messages name a row: task × config × backend."""
    config = row.get("config")
    if _missing(config):
        config = row.get("method")
    return " × ".join("?" if _missing(v) or v == "" else str(v) for v in (row.get("task"), config, row.get("backend")))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _shown(value: Any) -> str:
    if _missing(value):
        return "NaN" if isinstance(value, float) else "missing"
    if isinstance(value, float):
        return repr(float(value))
    return "empty" if value == "" else repr(value)


def _message(column: str, value: Any, check: str) -> str:
    shown = _shown(value)
    if check == "finite":
        return f"{column} is {shown}; a stored number must be finite (or empty)"
    if check == "measured":
        return f"{column} is {shown}; a measured (ok) row needs a finite {column}"
    if check == "known_status":
        return f"status is {shown}; it must be one of {', '.join(STATUSES)}"
    return f"{column} is {shown}; every row needs a {column}"  # not_nullable, non_empty
