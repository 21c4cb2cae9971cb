"""Pareto ranks and frontiers of score against a cost (latency, size), as plain numpy/pandas."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pandas as pd


def dominance_depth(score: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Pareto rank of each point on (score: higher is better, cost: lower is better): 1 for the points no other
    point beats (at least as good on both, better on one), then 1 + the deepest rank among the points that beat
    it (the non-dominated sorting layers). Exact ties share a rank. NaN in either: rank NaN.

    O(n log n): in order of score (best first, cheapest first among equals) each layer keeps the lowest cost
    seen so far, and these minima rise with depth, so a point's layer is found by bisection.
    """
    ranks = np.full(len(score), np.nan)
    idx = np.flatnonzero(~np.isnan(score) & ~np.isnan(cost))
    if not len(idx):
        return ranks
    order = idx[np.lexsort((cost[idx], -score[idx]))]
    s, c = score[order], cost[order]
    depth = np.empty(len(order))
    lowest_cost: list[float] = []  # per layer, the lowest cost among its points so far
    for i in range(len(order)):
        if i and s[i] == s[i - 1] and c[i] == c[i - 1]:
            depth[i] = depth[i - 1]  # an exact tie neither beats nor is beaten by its twin
            continue
        layer = bisect_right(lowest_cost, c[i])  # every layer whose lowest cost is <= c[i] beats this point
        if layer == len(lowest_cost):
            lowest_cost.append(c[i])
        elif c[i] < lowest_cost[layer]:
            lowest_cost[layer] = c[i]
        depth[i] = layer + 1
    ranks[order] = depth
    return ranks


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
        values = frame[cost].astype("float64").to_numpy(na_value=np.nan)
        keys = frame[list(by)].astype("string").fillna("")
        for positions in keys.groupby(list(by), sort=False).indices.values():
            out[positions] = dominance_depth(score[positions], values[positions])
    return pd.Series(out, index=frame.index)


def frontier(frame: pd.DataFrame, cost: str) -> pd.Series:
    """Whether each row is on the frontier of score against `cost` within the rows given (Pareto rank 1)."""
    if frame.empty:
        return pd.Series(np.zeros(0, dtype=bool), index=frame.index)
    depth = dominance_depth(_signed_score(frame), frame[cost].astype("float64").to_numpy(na_value=np.nan))
    return pd.Series(depth == 1, index=frame.index)
