"""Pure pandas logic behind the leaderboard: preparation, filters, de-duplication, Pareto ranking, the table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchsuite.discovery.loader import PluginLists
from benchsuite.results.report import hidden_rows_note, hide_excluded_plugins

from .pareto import pareto_rank

#: store columns the leaderboard never reads: the per-call timing samples (by far the largest)
UNUSED_COLUMNS = ("latency_samples_ms", "latency_b1_samples_ms", "speedup_round_ratios", "speedup_b1_round_ratios")

#: the leaderboard's columns: derived or store column -> header (units in the header; ↑/↓ = higher/lower is better)
TABLE_COLUMNS = {
    "pareto_rank": "Pareto rank ↓",
    "config": "method",
    "method_family": "family",
    "backend": "backend",
    "score": "score ↑",
    "score_ci": "score 95% CI",
    "score_b1": "score at batch 1",
    "score_delta": "Δ score vs baseline ↑",
    "latency_p50_ms": "p50 latency ms ↓",
    "latency_b1_p50_ms": "p50 latency batch 1 ms ↓",
    "realized_speedup": "realized speedup × ↑",
    "speedup_ci": "speedup 95% CI",
    "theoretical_speedup": "theoretical speedup × ↑",
    "size_mb": "size MB ↓",
    "size_ratio": "size ratio ↓",
    "sparsity": "sparsity",
    "peak_memory_mb": "peak memory MB ↓",
    "compress_seconds": "compression s ↓",
    "finetune_steps": "fine-tune steps",
    "track": "track",
    "threads": "threads",
    "hardware": "hardware",
    "created_at": "measured at",
}
#: a generative task's columns, shown after the speedup's interval: latencies are whole generations there
GENERATION_COLUMNS = {
    "recovery": "recovery vs baseline ↑",
    "ttft_b1_ms": "TTFT batch 1 ms ↓",
    "tpot_b1_ms": "TPOT batch 1 ms ↓",
    "tokens_per_s_b1": "tokens/s batch 1 ↑",
    "tokens_per_s": "tokens/s at batch size ↑",
    "tpot_floor_fraction": "share of bandwidth limit ↑",
}
#: a generative task's latency headers
GENERATION_HEADERS = {"p50 latency ms ↓": "p50 generation ms ↓",
                      "p50 latency batch 1 ms ↓": "p50 generation batch 1 ms ↓"}
#: printf-style display formats by header (the data keep full precision)
FORMATS = {
    "Pareto rank ↓": "%d", "score ↑": "%.4f", "score at batch 1": "%.4f", "Δ score vs baseline ↑": "%+.4f", "p50 latency ms ↓": "%.2f",
    "p50 latency batch 1 ms ↓": "%.3f", "realized speedup × ↑": "%.2f×", "theoretical speedup × ↑": "%.2f×",
    "size MB ↓": "%.2f", "size ratio ↓": "%.3f", "sparsity": "%.3f", "peak memory MB ↓": "%.1f",
    "compression s ↓": "%.1f", "recovery vs baseline ↑": "%.4f", "TTFT batch 1 ms ↓": "%.1f",
    "TPOT batch 1 ms ↓": "%.2f", "tokens/s batch 1 ↑": "%.1f", "tokens/s at batch size ↑": "%.1f",
    "share of bandwidth limit ↑": "%.2f", "p50 generation ms ↓": "%.0f", "p50 generation batch 1 ms ↓": "%.0f",
}
#: the row's direction is the task's; a lower-is-better metric flips the score headers' arrows
LOWER_IS_BETTER_HEADERS = {"score ↑": "score ↓", "Δ score vs baseline ↑": "Δ score vs baseline ↓"}
#: a configuration measured several times on the same machine shows only its newest result
CONFIG_KEY = ["task", "task_version", "method", "params", "backend", "backend_params", "hardware_fingerprint",
              "threads", "track", "quick"]
#: the most rows the leaderboard table shows (the export holds all of them)
MAX_TABLE_ROWS = 500


@dataclass(frozen=True)
class Filters:
    """What the user picked. Empty tuples mean "all"; `task_version` None means the task's newest version."""

    task: str
    task_version: str | None = None
    hardware: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    tracks: tuple[str, ...] = ()
    include_quick: bool = False
    statuses: tuple[str, ...] = field(default=("ok",))


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """What every view needs, computed once per store load: sizes in MB, a hardware label, and a hash of each
    row's configuration (for newest-per-configuration)."""
    out = frame.drop(columns=[c for c in UNUSED_COLUMNS if c in frame]).reset_index(drop=True)
    out = out.assign(
        size_mb=out["model_size_bytes"].astype("Float64") / 1e6,
        peak_memory_mb=out["peak_memory_bytes"].astype("Float64") / 1e6,
        quick=out["quick"].fillna(False).astype(bool),
        hardware_fingerprint=out["hardware_fingerprint"].fillna(""),
    )
    return out.assign(hardware=hardware_label(out),
                      config_key=pd.util.hash_pandas_object(out[CONFIG_KEY].astype("string"), index=False))


def visible(frame: pd.DataFrame, lists: PluginLists) -> tuple[pd.DataFrame, str]:
    """The rows the allow/block lists let the leaderboard show (by `method_plugin`, as `benchsuite results` does)
    that were timed (not `--accuracy-only`), and a caption saying how many were hidden and why ('' when none
    were). Hidden plugins are not named: a blocked plugin disappears, its name included."""
    kept, hidden = hide_excluded_plugins(frame, lists)
    note = hidden_rows_note(hidden)
    notes = [f"{note} (the leaderboard follows the plugin allow and block lists)"] if note else []
    untimed = kept["timed"].eq(False).fillna(False).astype(bool) if "timed" in kept else None
    if untimed is not None and untimed.any():
        count = int(untimed.sum())
        notes.append(f"{count} accuracy-only row{'s' if count > 1 else ''} (run with --accuracy-only, no latency) "
                     "not ranked; `benchsuite results` lists them")
        kept = kept[~untimed]
    return kept, "; ".join(notes)


def hardware_label(frame: pd.DataFrame) -> pd.Series:
    """'CPU model · N cores · GPU · fingerprint' per row: readable, and unique per machine (the fingerprint is a
    hash of the machine columns). Built once per machine."""
    labels = {}
    for fingerprint, cpu, cores, gpu in frame.drop_duplicates("hardware_fingerprint")[
            ["hardware_fingerprint", "cpu_model", "cpu_cores", "gpu"]].itertuples(index=False):
        parts = [cpu if isinstance(cpu, str) and cpu else "unknown CPU",
                 f"{cores if pd.notna(cores) else '?'} cores"]
        if isinstance(gpu, str) and gpu:
            parts.append(gpu)
        labels[fingerprint] = " · ".join(parts + [str(fingerprint)[:8]])
    return frame["hardware_fingerprint"].map(labels).astype("string")


def interval_text(low: pd.Series, high: pd.Series, digits: int = 4) -> pd.Series:
    """'[low, high]' with `digits` decimals, '' where either end is missing."""
    both = low.notna() & high.notna()
    text = pd.Series("", index=low.index, dtype="string")
    if both.any():
        form = f"{{:.{digits}f}}".format
        text[both] = "[" + low[both].map(form) + ", " + high[both].map(form) + "]"
    return text


def row_keys(frame: pd.DataFrame) -> pd.Series:
    """A stable hex key per row: a hash of what identifies a measurement, plus a counter for exact repeats."""
    identity = frame[["run_id", "created_at", "task", "task_version", "config", "backend", "backend_params",
                      "seed", "quick", "status", "hardware_fingerprint"]].astype("string").fillna("")
    hashes = pd.util.hash_pandas_object(identity, index=False)
    repeat = hashes.groupby(hashes).cumcount()
    return pd.Series([f"{h:016x}{'' if r == 0 else f'-{r}'}" for h, r in zip(hashes, repeat)], index=frame.index,
                     dtype="string")


def versions(frame: pd.DataFrame, task: str) -> list[str]:
    """The task's versions, newest first."""
    found = frame.loc[frame["task"] == task, "task_version"].dropna().unique().tolist()
    return sorted(found, key=_version_key, reverse=True)


def _version_key(version: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(version).split("."))  # mixed: no TypeError


def task_names(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["task"].dropna().unique().tolist())


def choices(frame: pd.DataFrame, task: str) -> dict[str, list[str]]:
    """The values each filter can take for one task: hardware labels, backends, method families, tracks."""
    rows = frame[frame["task"] == task]
    families = sorted({part for value in rows["method_family"].dropna().unique() for part in value.split(" > ")})
    return {
        "hardware": sorted(rows["hardware"].dropna().unique().tolist()),
        "backends": sorted(rows["backend"].dropna().unique().tolist()),
        "families": families,
        "tracks": sorted(rows["track"].dropna().unique().tolist()),
    }


def higher_is_better(frame: pd.DataFrame) -> bool:
    """The direction of the task metric of `frame`'s rows (one task; higher when unknown)."""
    return bool(frame["higher_is_better"].fillna(True).iloc[0]) if len(frame) else True


def select(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows the filters keep (newest per configuration on each machine), Pareto-ranked within each machine
    and ordered by Pareto rank, then score in the metric's direction, then p50 latency."""
    rows = frame[(frame["task"] == filters.task) & frame["status"].isin(list(filters.statuses))]
    if not filters.include_quick:
        rows = rows[~rows["quick"]]
    version = filters.task_version or next(iter(versions(rows, filters.task)), None)
    rows = rows[rows["task_version"] == version]
    if filters.hardware:
        rows = rows[rows["hardware"].isin(list(filters.hardware))]
    if filters.backends:
        rows = rows[rows["backend"].isin(list(filters.backends))]
    if filters.tracks:
        rows = rows[rows["track"].isin(list(filters.tracks))]
    if filters.families:
        parts = rows["method_family"].fillna("").str.split(" > ")
        rows = rows[parts.map(lambda p: any(f in filters.families for f in p)).astype(bool)]
    rows = newest_per_config(rows)
    return rank(rows)


def newest_per_config(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the newest row of each configuration on each machine (`config_key`, from `prepare`)."""
    if frame.empty:
        return frame
    order = frame.sort_values("created_at", kind="stable")
    return order[~order["config_key"].duplicated(keep="last")]


def rank(frame: pd.DataFrame) -> pd.DataFrame:
    """Pareto rank on (score, p50 latency at the task batch size) within each machine, then order by that rank,
    score (in the metric's direction) and p50 latency. Rows without a score (failed) go last."""
    if frame.empty:
        return frame.assign(pareto_rank=pd.Series(dtype="Int64"))
    ranks = pareto_rank(frame)
    ordered = frame.assign(pareto_rank=ranks, _sort_score=frame["score"] * (-1 if higher_is_better(frame) else 1))
    ordered = ordered.sort_values(["pareto_rank", "_sort_score", "latency_p50_ms"], kind="stable",
                                  na_position="last")
    return ordered.drop(columns="_sort_score").assign(pareto_rank=ordered["pareto_rank"].round().astype("Int64"))


def table(selected: pd.DataFrame, limit: int | None = MAX_TABLE_ROWS) -> pd.DataFrame:
    """The display table of selected rows: the leaderboard's columns under their headers."""
    shown = selected if limit is None else selected.head(limit)
    shown = shown.assign(score_ci=interval_text(shown["score_ci_low"], shown["score_ci_high"]),
                         speedup_ci=interval_text(shown["realized_speedup_ci_low"],
                                                  shown["realized_speedup_ci_high"], 2))
    if "score_b1" not in shown:  # frames of rows older than schema 7 (read back, they are migrated)
        shown = shown.assign(score_b1=float("nan"))
    columns = dict(TABLE_COLUMNS)
    if generative(selected):
        shown = shown.assign(recovery=recovery(shown))
        at = list(columns).index("speedup_ci") + 1
        columns = dict([*list(columns.items())[:at], *GENERATION_COLUMNS.items(), *list(columns.items())[at:]])
    out = shown[list(columns)].rename(columns=columns).reset_index(drop=True)
    if generative(selected):
        out = out.rename(columns=GENERATION_HEADERS)
    if not higher_is_better(selected):
        out = out.rename(columns=LOWER_IS_BETTER_HEADERS)
    return out


def generative(frame: pd.DataFrame) -> bool:
    """Whether `frame`'s rows (one task) were timed as text generation (TTFT, TPOT, tokens/s)."""
    return "timing_kind" in frame and bool(frame["timing_kind"].eq("generation").fillna(False).any())


def recovery(frame: pd.DataFrame) -> pd.Series:
    """How much of the baseline's score a row keeps, as a fraction where 1 is the baseline's: score / baseline for
    a higher-is-better metric, baseline / score for a lower-is-better one (perplexity)."""
    score, base = frame["score"].astype("Float64"), frame["baseline_score"].astype("Float64")
    return base / score if not higher_is_better(frame) else score / base


def formats(columns: list[str]) -> dict[str, str]:
    """Display formats for the headers present (the score headers' arrows depend on the metric)."""
    flipped = {LOWER_IS_BETTER_HEADERS.get(h, h): f for h, f in FORMATS.items()}
    return {h: f for h, f in {**FORMATS, **flipped}.items() if h in columns}


def task_caption(frame: pd.DataFrame, task: str) -> str:
    """One line about the task: metric, direction, version, evaluation size, batch sizes."""
    rows = frame[frame["task"] == task]
    measured = rows[rows["status"] == "ok"]
    if measured.empty:
        return ""
    row = measured.iloc[-1]  # skipped and failed rows have no evaluation size or batch
    direction = "higher is better" if row["higher_is_better"] else "lower is better"
    timed = f"latency at batch {row['batch_size']} and batch 1"
    if str(row.get("timing_kind")) == "generation":
        timed = (f"timed as generation: a {row['prompt_tokens']}-token prompt, then {row['new_tokens']} greedy "
                 f"tokens with the KV cache, at batch {row['batch_size']} and batch 1")
    return (f"metric: {row['metric']} ({direction}) · task version {row['task_version']} · "
            f"{row['eval_samples']} evaluation samples · {timed}")


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["status"].value_counts().items()}


def file_name(task: str, extension: str) -> str:
    """A download's file name: the task name with anything but letters, digits, '.', '-' and '_' replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", task).lstrip(".") + f".{extension}"


def export_csv(table_frame: pd.DataFrame) -> bytes:
    return table_frame.to_csv(index=False).encode()


def export_parquet(table_frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    table_frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def sample_points(frame: pd.DataFrame, keep: pd.Series, limit: int, seed: int = 0) -> pd.DataFrame:
    """At most `limit` rows for a chart: every row where `keep` (the frontier), then an even random sample of
    the rest."""
    if len(frame) <= limit:
        return frame
    kept, rest = frame[keep], frame[~keep]
    room = max(limit - len(kept), 0)
    picks = np.random.default_rng(seed).choice(len(rest), size=min(room, len(rest)), replace=False)
    return pd.concat([kept, rest.iloc[np.sort(picks)]])
