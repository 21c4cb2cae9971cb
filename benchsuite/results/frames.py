"""Rows as a typed DataFrame with exactly the schema's columns (and the store's rules checked on request)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from benchsuite.errors import StoreError
from benchsuite.results.schema import _DTYPES, COLUMNS, SCHEMA, SCHEMA_VERSION


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in SCHEMA})


def to_frame(rows: Iterable[Mapping[str, Any]], validate: bool = True) -> pd.DataFrame:
    """Rows (dicts with exactly the schema's columns) as a typed DataFrame; with `validate`, refused with a
    StoreError naming the row, the column and the value when a row breaks the store's rules (rules.py)."""
    rows = list(rows)
    for row in rows:
        extra, missing = set(row) - set(COLUMNS), set(COLUMNS) - set(row) - {"schema_version"}
        if extra or missing:
            raise StoreError(f"row does not match schema v{SCHEMA_VERSION}: "
                             f"unexpected {sorted(extra)}, missing {sorted(missing)}")
    frame = pd.DataFrame([{**row, "schema_version": SCHEMA_VERSION} for row in rows], columns=list(COLUMNS))
    try:
        frame = frame.astype({k: v for k, v in _DTYPES.items() if not v.startswith("datetime")})
        for name in (k for k, v in _DTYPES.items() if v.startswith("datetime")):
            frame[name] = pd.to_datetime(frame[name], utc=True)
    except (ValueError, TypeError, OverflowError):
        raise StoreError(_type_problem(frame)) from None
    if validate:
        from benchsuite.results.rules import validate as check

        check(frame)
    return frame


_KINDS = {"float64": "a number", "Int64": "an integer", "boolean": "true or false", "string": "text",
          "object": "a list", "datetime64[ns, UTC]": "a timestamp"}


def _type_problem(frame: pd.DataFrame) -> str:
    """The first value of `frame` that does not convert to its column's dtype, as a one-line message."""
    from benchsuite.results.rules import row_label

    for name, dtype in _DTYPES.items():
        for index, value in frame[name].items():
            try:
                if dtype.startswith("datetime"):
                    pd.to_datetime(pd.Series([value]), utc=True)
                else:
                    pd.Series([value], dtype=object).astype(dtype)
            except (ValueError, TypeError, OverflowError):
                return f"row {row_label(frame.loc[index])}: {name} is {value!r}; it must be {_KINDS.get(dtype, dtype)}"
    return "rows do not convert to the schema's types"
