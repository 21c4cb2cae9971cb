"""Pareto ranks and frontiers of score against a cost (latency, size), as plain numpy/pandas."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pandas as pd


def dominance_depth(score: np.ndarray, cost: np.ndarray, cost_high: np.ndarray | None = None) -> np.ndarray:
    """Pareto rank of each point on (score: higher is better, cost: lower is better): 1 for the points no other
    point beats, then 1 + the deepest rank among the points that beat it (the non-dominated sorting layers).
    NaN in either: rank NaN.

    With `cost_high`, `cost` is the low end of each point's cost interval and `cost_high` its high end, and a point
    beats another only where the intervals separate: A beats B when A's score is at least B's and A's cost interval
    lies wholly at or below B's (A's high end <= B's low end), one of the two strictly. Without it, point costs:
    at least as good on both, better on one. Exact ties share a rank. (Scores are compared as points: every
    method of a task is scored on the same evaluation samples, so their differences are paired.)

    O(n log n): in order of score (best first) each layer keeps the lowest high end of cost seen so far; these
    minima rise with depth, so the layers that beat a point are a prefix, found by bisection on its low end.
    Points of equal score beat each other only on a strictly lower cost: within such a group, a sweep in cost
    order gives each point the deepest group member below it.
    """
    low = np.asarray(cost, dtype=np.float64)
    high = low if cost_high is None else np.asarray(cost_high, dtype=np.float64)
    ranks = np.full(len(score), np.nan)
    idx = np.flatnonzero(~np.isnan(score) & ~np.isnan(low) & ~np.isnan(high))
    if not len(idx):
        return ranks
    order = idx[np.lexsort((low[idx], -score[idx]))]
    lowest_high: list[float] = []  # per layer, the lowest high end of cost among its points so far
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and score[order[stop]] == score[order[start]]:
            stop += 1
        group = order[start:stop]
        # beaten by a better score: every layer whose lowest high end is <= this low end
        depth = {int(i): bisect_right(lowest_high, low[i]) + 1 for i in group}
        # beaten within the group (same score): by a strictly lower cost. Ascending, queries (low ends) before
        # inserts (high ends) at equal values, so a point's own depth is final before it is inserted
        events = sorted([(low[i], 0, int(i)) for i in group] + [(high[i], 1, int(i)) for i in group])
        deepest = 0
        for _, kind, i in events:
            if kind == 0:
                depth[i] = max(depth[i], deepest + 1)
            else:
                deepest = max(deepest, depth[i])
        for i in group:
            layer = depth[int(i)] - 1
            if layer == len(lowest_high):
                lowest_high.append(high[i])
            elif high[i] < lowest_high[layer]:
                lowest_high[layer] = high[i]
            ranks[i] = depth[int(i)]
        start = stop
    return ranks


#: times whose interval takes the relative width of a speedup's: at the task batch size, and at batch 1
#: (a generative task's whole generations are its latencies; TTFT and TPOT come from the same timed calls)
_TIMES = ("latency_p50_ms", "latency_b1_p50_ms", "ttft_ms", "tpot_ms", "ttft_b1_ms", "tpot_b1_ms")
_AT_BATCH_1 = ("latency_b1_p50_ms", "ttft_b1_ms", "tpot_b1_ms")


def latency_interval(frame: pd.DataFrame, cost: str = "latency_p50_ms") -> tuple[np.ndarray, np.ndarray]:
    """Each row's `cost` (a latency) as an interval that covers what varies between timings: the relative width
    of its speedup's interval from the rounds interleaved with the baseline (the speedup at batch 1 for the
    batch-1 latency), else the bootstrap interval of the latency itself, else the point."""
    value = frame[cost].astype("float64").to_numpy(na_value=np.nan)
    prefix = "realized_speedup_b1" if cost in _AT_BATCH_1 else "realized_speedup"
    own = "latency_b1_p50_ci" if cost == "latency_b1_p50_ms" else "latency_p50_ci"
    low, high = value.copy(), value.copy()

    def column(name: str) -> np.ndarray:
        return (frame[name].astype("float64").to_numpy(na_value=np.nan) if name in frame
                else np.full(len(frame), np.nan))

    if cost in _TIMES:
        if cost in ("latency_p50_ms", "latency_b1_p50_ms"):
            own_low, own_high = column(f"{own}_low_ms"), column(f"{own}_high_ms")
            has_own = ~np.isnan(own_low) & ~np.isnan(own_high)
            low[has_own], high[has_own] = own_low[has_own], own_high[has_own]
        speedup, s_low, s_high = column(prefix), column(f"{prefix}_ci_low"), column(f"{prefix}_ci_high")
        usable = (column("speedup_rounds") > 0) & ~np.isnan(speedup) & (s_low > 0) & (s_high > 0)
        low[usable] = value[usable] * speedup[usable] / s_high[usable]
        high[usable] = value[usable] * speedup[usable] / s_low[usable]
    return low, high


def _signed_score(frame: pd.DataFrame) -> np.ndarray:
    sign = np.where(frame["higher_is_better"].fillna(True).astype(bool).to_numpy(), 1.0, -1.0)
    return frame["score"].astype("float64").to_numpy(na_value=np.nan) * sign


def pareto_rank(frame: pd.DataFrame, cost: str = "latency_p50_ms",
                by: tuple[str, ...] = ("hardware_fingerprint",)) -> pd.Series:
    """Pareto rank of each row on (score in the metric's direction, `cost`), within groups of `by` (latencies
    from different machines are not comparable). A float Series aligned with `frame` (NaN where a value is
    missing)."""
    out = np.full(len(frame), np.nan)
    if len(frame):
        score = _signed_score(frame)
        low, high = latency_interval(frame, cost)
        keys = frame[list(by)].astype("string").fillna("")
        for positions in keys.groupby(list(by), sort=False).indices.values():
            out[positions] = dominance_depth(score[positions], low[positions], high[positions])
    return pd.Series(out, index=frame.index)


def frontier(frame: pd.DataFrame, cost: str) -> pd.Series:
    """Whether each row is on the frontier of score against `cost` within the rows given (Pareto rank 1)."""
    if frame.empty:
        return pd.Series(np.zeros(0, dtype=bool), index=frame.index)
    depth = dominance_depth(_signed_score(frame), *latency_interval(frame, cost))
    return pd.Series(depth == 1, index=frame.index)
