"""Pure pandas logic behind the leaderboard: filtering, de-duplication, ranking, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


#: the leaderboard's columns: source column -> header (units in the header, ↑/↓ = higher/lower is better)
TABLE_COLUMNS = {
    "rank": "rank",
    "config": "method",
    "method_family": "family",
    "backend": "backend",
    "score": "score ↑",
    "score_delta": "Δ vs baseline ↑",
    "latency_p50_ms": "p50 latency ms ↓",
    "latency_b1_p50_ms": "p50 latency b1 ms ↓",
    "realized_speedup": "speedup ×↑",
    "size_mb": "size MB ↓",
    "size_ratio": "size ratio ↓",
    "sparsity": "sparsity",
    "peak_memory_mb": "peak memory MB ↓",
    "throughput_sps": "throughput samples/s ↑",
    "threads": "threads",
    "cpu_model": "CPU",
    "created_at": "measured at",
}
#: printf-style display formats by header (the data keep full precision)
FORMATS = {
    "score ↑": "%.4f", "Δ vs baseline ↑": "%+.4f", "p50 latency ms ↓": "%.2f", "p50 latency b1 ms ↓": "%.3f",
    "speedup ×↑": "%.2f×", "size MB ↓": "%.2f", "size ratio ↓": "%.3f", "sparsity": "%.3f",
    "peak memory MB ↓": "%.1f", "throughput samples/s ↑": "%.0f",
}
#: a configuration measured several times on the same machine shows only its newest result
CONFIG_KEY = ["task", "task_version", "method", "params", "backend", "backend_params", "cpu_model", "gpu", "threads"]


def visible(frame: pd.DataFrame, include_quick: bool = False) -> pd.DataFrame:
    """Rows that may be ranked: status ok, and not quick unless asked."""
    keep = frame["status"] == "ok"
    if not include_quick:
        keep &= ~frame["quick"].fillna(False).astype(bool)
    return frame[keep]


def latest_version(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task, only rows of its newest task_version (results of different versions are never ranked together)."""
    if frame.empty:
        return frame
    newest = frame.groupby("task")["task_version"].transform(lambda v: max(v, key=_version_key))
    return frame[frame["task_version"] == newest]


def _version_key(version: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(version).split("."))  # mixed: no TypeError


def newest_per_config(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the newest row of each configuration on each machine."""
    if frame.empty:
        return frame
    order = frame.sort_values("created_at", kind="stable")
    key = order[CONFIG_KEY].astype("string").fillna("")  # missing values compare equal to each other
    return order[~key.duplicated(keep="last")]


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Rank one task's rows by score (in the metric's direction), ties broken by lower p50 latency."""
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype="Int64"))
    higher = bool(frame["higher_is_better"].iloc[0])
    ordered = frame.sort_values(["score", "latency_p50_ms"], ascending=[not higher, True], kind="stable")
    return ordered.assign(rank=range(1, len(ordered) + 1))


def leaderboard(frame: pd.DataFrame, task: str, backends: Sequence[str] | None = None,
                include_quick: bool = False) -> pd.DataFrame:
    """The ranked table for one task, with display columns and headers."""
    rows = latest_version(visible(frame, include_quick))
    rows = rows[rows["task"] == task]
    if backends:
        rows = rows[rows["backend"].isin(list(backends))]
    rows = rank(newest_per_config(rows))
    rows = rows.assign(
        size_mb=rows["model_size_bytes"].astype("Float64") / 1e6,
        peak_memory_mb=rows["peak_memory_bytes"].astype("Float64") / 1e6,
    )
    return rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS).reset_index(drop=True)


def task_names(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["task"].dropna().unique().tolist())


def backend_names(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["backend"].dropna().unique().tolist())


def task_caption(frame: pd.DataFrame, task: str) -> str:
    """One line about the task: metric, direction, version, evaluation size."""
    rows = frame[frame["task"] == task]
    if rows.empty:
        return ""
    row = rows.iloc[-1]
    direction = "higher is better" if row["higher_is_better"] else "lower is better"
    return (f"metric: {row['metric']} ({direction}) · task version {row['task_version']} · "
            f"{row['eval_samples']} evaluation samples · latency at batch {row['batch_size']} and batch 1")
