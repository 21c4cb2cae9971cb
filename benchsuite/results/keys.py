"""Run keys: what identifies a configuration in the store (task and its version, method configuration, backend
with its parameters, seed, track, budgets, quick, hardware), so a resumed grid skips what is already stored.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: what a run's identity is made of: two rows with the same values measured the same thing (see run_key)
RUN_KEY_COLUMNS = ("task", "task_version", "config", "method_version", "params", "backend", "backend_params",
                   "hardware_fingerprint", "seed", "quick", "track", "finetune_budget_steps",
                   "finetune_budget_seconds")


def run_key(row: Mapping[str, Any]) -> str:
    """A short stable hash of what a run measured (RUN_KEY_COLUMNS): a row built in Python and the same row read
    back from the store give the same key. Missing values (None, NaN, pd.NA) are one value; numbers compare by
    value (numpy or Python, 900 or 900.0); the JSON of params and backend_params by content."""
    return _hash([_key_text(name, row.get(name)) for name in RUN_KEY_COLUMNS])


def run_keys(frame: pd.DataFrame) -> list[str]:
    """`run_key` of every row of `frame`, in order (columns it lacks count as missing); fast on large frames."""
    if not len(frame):
        return []
    cache: dict[tuple[str, Any], str] = {}

    def column(name: str) -> list[str]:
        if name not in frame:
            return [_key_text(name, None)] * len(frame)
        out = []
        for value in frame[name].astype(object).tolist():
            try:
                out.append(cache[name, value])
            except KeyError:
                cache[name, value] = text = _key_text(name, value)
                out.append(text)
            except TypeError:  # an unhashable value
                out.append(_key_text(name, value))
        return out

    return [_hash(texts) for texts in zip(*(column(name) for name in RUN_KEY_COLUMNS))]


def _key_text(name: str, value: Any) -> str:
    """`value` normalized, as JSON: null for every kind of missing, an integer for an integral number, the
    canonical JSON of a params text."""
    import numpy as np

    if value is None or value is pd.NA or value is pd.NaT:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "null" if math.isnan(value) else str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if name in ("params", "backend_params"):
        try:
            text = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass
    return json.dumps(text)


def _hash(texts: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
