"""Views of result rows: the summary table, per-seed aggregates, pytest-benchmark JSON, regressions between two
sets of results, the rows the plugin allow/block lists let through, and text made safe to print. Pure pandas;
the CLI only prints what these return."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchsuite.errors import UsageError
from benchsuite.measure.stats import t_interval

if TYPE_CHECKING:
    from benchsuite.discovery.loader import PluginLists

SUMMARY_COLUMNS = {
    "task": "task", "config": "method", "backend": "backend", "status": "status", "score": "score",
    "score_delta": "Δscore", "latency_p50_ms": "p50 ms", "latency_b1_p50_ms": "p50 ms b1",
    "realized_speedup": "speedup", "speedup_efficiency": "speedup/FLOPs cut", "size_mb": "size MB",
    "size_ratio": "size ratio", "params_nonzero": "nonzero params", "sparsity": "sparsity",
}
#: a configuration: rows with equal keys measure the same thing (seeds and repeats aside)
CONFIG_KEY = ["task", "task_version", "config", "backend", "backend_params", "quick", "track"]


def summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The human summary of result rows: one line per row, the columns a reader compares."""
    out = frame.assign(size_mb=frame["model_size_bytes"].astype("Float64") / 1e6)
    return out[list(SUMMARY_COLUMNS)].rename(columns=SUMMARY_COLUMNS)


#: C0 and C1 control characters: a terminal acts on them (cursor moves, colours, title, clearing the screen)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object, *, newlines: bool = False) -> str:
    """`text` with its control characters written as escapes (``\\x1b``), so that a stored or plugin-supplied
    string prints as the characters it holds and cannot drive the terminal. `newlines` keeps line breaks."""
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return char if newlines and char == "\n" else repr(char)[1:-1]

    return _CONTROL.sub(escape, str(text))


def printable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `printable` applied to every text cell (numbers untouched), for printing as a table."""
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(lambda v: printable(v) if isinstance(v, str) else v) for c in text})


def hide_excluded_plugins(frame: pd.DataFrame,
                          lists: PluginLists | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows whose method plugins the allow/block lists let through (`benchsuite.discovery.loader.PluginLists`; default:
    read from the environment), and how many rows were hidden for each reason ("blocked", "not allowed")."""
    from benchsuite.discovery.loader import PluginLists

    lists = PluginLists.from_environ() if lists is None else lists
    if frame.empty or (lists.allow is None and lists.block is None):
        return frame, {}
    plugins = frame["method_plugin"] if "method_plugin" in frame else pd.Series(None, index=frame.index)
    plugins = plugins.astype(object)
    reasons = {value: lists.row_exclusion(value) for value in plugins.unique() if isinstance(value, str)}
    unnamed = lists.row_exclusion(None)  # a row that names no plugin (older files, hand-made rows)
    excluded = plugins.map(lambda value: reasons[value] if isinstance(value, str) else unnamed)
    hidden = excluded.notna()
    return frame[~hidden], {str(k): int(v) for k, v in excluded[hidden].value_counts().items()}


def hidden_rows_note(hidden: Mapping[str, int]) -> str:
    """One line on the rows `hide_excluded_plugins` hid: how many, and why; '' when none were."""
    from benchsuite.discovery.loader import ALLOW_ENV, BLOCK_ENV

    parts = [f"{hidden['blocked']:,} from plugins blocked by {BLOCK_ENV}" if hidden.get("blocked") else "",
             f"{hidden['not allowed']:,} from third-party plugins not in {ALLOW_ENV}" if hidden.get("not allowed")
             else ""]
    total = sum(hidden.values())
    if not total:
        return ""
    return f"{total:,} row{'s' if total != 1 else ''} hidden: " + ", ".join(p for p in parts if p)


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


def by_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per configuration: mean score and speedup over its seeds, with Student-t 95% intervals."""
    rows = []
    for key, group in _ok(frame).groupby(["task", "config", "backend"], sort=False, dropna=False):
        score_ci = t_interval(group["score"].astype(float).tolist())
        speedup_ci = t_interval(group["realized_speedup"].astype(float).tolist())
        rows.append({
            "task": key[0], "method": key[1], "backend": key[2], "seeds": group["seed"].nunique(),
            "score mean": group["score"].mean(), "score 95% CI": _interval(score_ci),
            "speedup mean": group["realized_speedup"].mean(), "speedup 95% CI": _interval(speedup_ci),
        })
    return pd.DataFrame(rows, columns=["task", "method", "backend", "seeds", "score mean", "score 95% CI",
                                       "speedup mean", "speedup 95% CI"])


def _interval(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "-"


def pytest_benchmark_json(frame: pd.DataFrame) -> dict[str, Any]:
    """Results as a pytest-benchmark JSON document (one benchmark per ok row at the task batch size, one at batch 1),
    so that ``pytest-benchmark compare`` reads them. Times are in seconds, as pytest-benchmark stores them."""
    from pytest_benchmark.stats import Stats

    from benchsuite.measure.hardware import machine_info

    benchmarks = []
    for row in _ok(frame).to_dict("records"):
        for label, column in ((f"b{row['batch_size']}", "latency_samples_ms"), ("b1", "latency_b1_samples_ms")):
            samples = row.get(column)
            if samples is None or len(samples) == 0:
                continue
            stats = Stats()
            for ms in samples:
                stats.update(float(ms) / 1000.0)
            name = f"{row['task']}[{row['config']}@{row['backend']}:{label}]"
            benchmarks.append({
                "group": f"{row['task']} {label}", "name": name, "fullname": f"benchsuite::{name}",
                "params": {"task": row["task"], "config": row["config"], "backend": row["backend"],
                           "batch": label},
                "param": f"{row['config']}@{row['backend']}:{label}",
                "extra_info": {k: _plain(row[k]) for k in ("score", "realized_speedup", "model_size_bytes",
                                                            "threads", "hardware_fingerprint", "seed", "run_id")},
                "options": {"timer": "time.perf_counter_ns", "warmup": True},
                "stats": {**stats.as_dict(), "iterations": 1},
            })
    return {
        "machine_info": {k: _plain(v) for k, v in machine_info().items()},
        "commit_info": {},
        "benchmarks": benchmarks,
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": _pytest_benchmark_version(),
    }


def _pytest_benchmark_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("pytest-benchmark")


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


_COMPARE_KEY = ["task", "config", "backend", "quick"]


def _means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (quick rows apart from full ones): mean score and speedup of its ok rows, the span of
    their 95% intervals (the lowest low end, the highest high end: over seeds, an interval that covers each),
    median latency."""
    columns = [*_COMPARE_KEY, "score", "score_ci_low", "score_ci_high", "latency_p50_ms", "realized_speedup",
               "realized_speedup_ci_low", "realized_speedup_ci_high", "hardware_fingerprint", "higher_is_better",
               "method"]
    ok = _ok(frame).assign(quick=lambda f: f["quick"].fillna(False).astype(bool))
    for column in columns:
        if column not in ok:
            ok[column] = float("nan")
    if ok.empty:
        return pd.DataFrame(columns=columns)
    return (ok.groupby(_COMPARE_KEY, dropna=False)
            .agg(score=("score", "mean"), score_ci_low=("score_ci_low", "min"), score_ci_high=("score_ci_high", "max"),
                 latency_p50_ms=("latency_p50_ms", "median"), realized_speedup=("realized_speedup", "mean"),
                 realized_speedup_ci_low=("realized_speedup_ci_low", "min"),
                 realized_speedup_ci_high=("realized_speedup_ci_high", "max"),
                 hardware_fingerprint=("hardware_fingerprint", "last"),
                 higher_is_better=("higher_is_better", "first"), method=("method", "first"))
            .reset_index())


def _intervals(worse_side_high: pd.Series, better_side_low: pd.Series) -> pd.Series:
    """'separate' where the new value's interval lies wholly on the worse side of the old one's, 'overlap' where
    they overlap (or separate on the better side), 'none' where either interval is missing."""
    known = worse_side_high.notna() & better_side_low.notna()
    apart = known & (worse_side_high.astype(float) < better_side_low.astype(float))
    return pd.Series(np.where(~known, "none", np.where(apart, "separate", "overlap")), index=worse_side_high.index)


def compare(old: pd.DataFrame, new: pd.DataFrame, threshold_pct: float) -> pd.DataFrame:
    """Configurations in both `old` and `new`, with how much slower and less accurate `new` is, in percent, and
    whether the 95% intervals of the two runs separate.

    Speed is judged on the speedup against the baseline timed interleaved with each row (its interval covers the
    rounds; a latency compared across runs would carry the drift between runs, which no interval covers); the
    baseline rows themselves are the yardstick, so only their score is judged. `regression` marks a change beyond
    `threshold_pct` whose intervals separate: a change inside the noise never fails a plugin author's CI.
    """
    if not threshold_pct >= 0:
        raise UsageError(f"--fail-on-regression takes a percentage >= 0, not {threshold_pct:g}")
    both = _means(old).merge(_means(new), on=_COMPARE_KEY, suffixes=("_old", "_new"))
    baseline = both["method_old"].astype("string").fillna("") == "baseline"
    slower = (both["realized_speedup_old"].astype(float) / both["realized_speedup_new"].astype(float) - 1) * 100
    speed = _intervals(both["realized_speedup_ci_high_new"], both["realized_speedup_ci_low_old"])
    higher = both["higher_is_better_old"].fillna(True).astype(bool)
    less_accurate = ((both["score_old"] - both["score_new"]) * higher.map({True: 1.0, False: -1.0})
                     / both["score_old"].abs() * 100)
    score = pd.Series(np.where(higher, _intervals(both["score_ci_high_new"], both["score_ci_low_old"]),
                               _intervals(both["score_ci_high_old"], both["score_ci_low_new"])), index=both.index)
    out = pd.DataFrame({
        "task": both["task"], "method": both["config"], "backend": both["backend"],
        "slower %": slower.where(~baseline).astype(float),
        "speed intervals": speed.where(~baseline, "not judged (baseline)"),
        "less accurate %": less_accurate.astype(float),
        "score intervals": score,
    })
    out["regression"] = (((out["slower %"] > threshold_pct) & (out["speed intervals"] == "separate"))
                         | ((out["less accurate %"] > threshold_pct) & (out["score intervals"] == "separate")))
    return out


def read_results(path: str) -> pd.DataFrame:
    """Results from a store folder or from one exported file (.parquet, .csv, .json)."""
    from pathlib import Path

    from benchsuite.results.store import ResultStore

    source = Path(path)
    if not source.exists():
        raise UsageError(f"{path} does not exist; pass a store folder or an exported results file")
    if source.is_dir():
        return ResultStore(source).read()
    readers: Mapping[str, Any] = {".parquet": pd.read_parquet, ".csv": pd.read_csv,
                                  ".json": lambda p: pd.read_json(p, orient="records")}
    reader = readers.get(source.suffix)
    if reader is None:
        raise UsageError(f"{path}: unknown results format; use a store folder or a .parquet, .csv or .json export")
    return reader(source)
