"""The constraint explorer: the best configurations that fit a latency budget, a size budget and a minimum score."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .data import higher_is_better, interval_text


@dataclass(frozen=True)
class Budget:
    """The user's limits; None means no limit. `at_batch_one` picks which latency the budget is about: batch 1
    (interactive serving) or the task's batch size."""

    latency_ms: float | None = None
    at_batch_one: bool = True
    size_mb: float | None = None
    min_score: float | None = None

    @property
    def latency_column(self) -> str:
        return "latency_b1_p50_ms" if self.at_batch_one else "latency_p50_ms"

    def describe(self, higher_is_better: bool = True) -> str:
        parts = []
        if self.latency_ms is not None:
            parts.append(f"p50 latency ≤ {self.latency_ms:g} ms at {'batch 1' if self.at_batch_one else 'the task batch size'}")
        if self.size_mb is not None:
            parts.append(f"size ≤ {self.size_mb:g} MB")
        if self.min_score is not None:
            parts.append(f"score {'≥' if higher_is_better else '≤'} {self.min_score:g}")
        return ", ".join(parts) or "no limits"


def meeting(rows: pd.DataFrame, budget: Budget) -> pd.DataFrame:
    """The rows (already selected and ranked for one task) that meet every limit of `budget`. The score limit
    is a minimum for higher-is-better metrics and a maximum otherwise."""
    keep = pd.Series(True, index=rows.index)
    if budget.latency_ms is not None:
        keep &= (rows[budget.latency_column] <= budget.latency_ms).fillna(False)
    if budget.size_mb is not None:
        keep &= (rows["size_mb"] <= budget.size_mb).fillna(False)
    if budget.min_score is not None:
        fits = rows["score"] >= budget.min_score if higher_is_better(rows) else rows["score"] <= budget.min_score
        keep &= fits.fillna(False)
    return rows[keep.astype(bool)]


def best_per_platform(rows: pd.DataFrame, budget: Budget) -> pd.DataFrame:
    """For each backend on each machine, the best configuration within budget: the best score, then the lowest
    latency the budget is about. Empty when nothing fits."""
    fits = meeting(rows, budget)
    if fits.empty:
        return fits
    ordered = fits.sort_values(["score", budget.latency_column], ascending=[not higher_is_better(fits), True],
                               kind="stable")
    return ordered.drop_duplicates(["hardware", "backend"], keep="first").sort_values(["hardware", "backend"])


def closest(rows: pd.DataFrame, budget: Budget) -> list[str]:
    """When nothing fits: what each limit alone allows, so the user sees which one binds."""
    hints = []
    if rows.empty:
        return ["no ranked results for this selection"]
    higher = higher_is_better(rows)
    if budget.latency_ms is not None:
        fastest = rows[budget.latency_column].min()
        hints.append(f"the fastest configuration has p50 latency {fastest:.3g} ms")
    if budget.size_mb is not None:
        hints.append(f"the smallest configuration is {rows['size_mb'].min():.3g} MB")
    if budget.min_score is not None:
        best = rows["score"].max() if higher else rows["score"].min()
        hints.append(f"the best score is {best:.4g}")
    for name, limit in (("latency", budget.latency_ms), ("size", budget.size_mb), ("score", budget.min_score)):
        if limit is None:
            continue
        others = Budget(budget.latency_ms if name != "latency" else None, budget.at_batch_one,
                        budget.size_mb if name != "size" else None, budget.min_score if name != "score" else None)
        left = len(meeting(rows, others))
        if left:
            hints.append(f"dropping the {name} limit alone would leave {left} configurations")
    return hints


#: the columns of the explorer's answer: store or derived column -> header
ANSWER_COLUMNS = {
    "hardware": "hardware",
    "backend": "backend",
    "config": "method",
    "score": "score",
    "score_ci": "score 95% CI",
    "latency_b1_p50_ms": "p50 latency batch 1 ms",
    "latency_p50_ms": "p50 latency ms",
    "batch_size": "task batch size",
    "size_mb": "size MB",
    "realized_speedup": "realized speedup ×",
    "track": "track",
}


def answer_table(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.assign(score_ci=interval_text(rows["score_ci_low"], rows["score_ci_high"]))
    return rows[list(ANSWER_COLUMNS)].rename(columns=ANSWER_COLUMNS).reset_index(drop=True)
