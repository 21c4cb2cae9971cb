"""Altair trade-off charts: score against a cost, the Pareto frontier drawn, dominated points faded."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .data import interval_text

#: fields shown when hovering a point: column -> title
TOOLTIP = {"config": "method", "backend": "backend", "method_family": "family", "score": "score",
           "score_ci": "score 95% CI", "latency_p50_ms": "p50 latency ms", "latency_b1_p50_ms": "p50 latency b1 ms",
           "size_mb": "size MB", "realized_speedup": "realized speedup ×", "tokens_per_s_b1": "tokens/s batch 1",
           "tpot_b1_ms": "TPOT batch 1 ms", "track": "track",
           "hardware": "hardware", "created_at": "measured at"}


def tradeoff(points: pd.DataFrame, cost: str, cost_title: str, score_title: str,
             families: list[str] | None = None) -> alt.LayerChart:
    """Scatter of score (y) against `cost` (x, log scale), frontier points solid and joined by a step line,
    dominated points faded; `points` carries an `on_frontier` column. `families` fixes the colour of each
    method family across charts. `cost` may be a higher-is-better rate (tokens/s): the frontier is the caller's."""
    points = points.assign(score_ci=interval_text(points["score_ci_low"], points["score_ci_high"]))
    fields = [c for c in TOOLTIP if c in points]
    data = points[fields + ["on_frontier"] + ([cost] if cost not in fields else [])].copy()
    for column in data.columns:  # plain Python types for the chart's JSON: text as object, numbers as float
        if column == "on_frontier":
            data[column] = data[column].astype(bool)
        elif pd.api.types.is_numeric_dtype(data[column]) and not pd.api.types.is_bool_dtype(data[column]):
            data[column] = data[column].astype("float64")
        else:
            data[column] = data[column].astype("string").astype(object)
    x = alt.X(f"{cost}:Q", title=cost_title, scale=alt.Scale(type="log", zero=False))
    y = alt.Y("score:Q", title=score_title, scale=alt.Scale(zero=False))
    dots = alt.Chart(data).mark_circle(size=70).encode(
        x=x, y=y,
        color=alt.Color("method_family:N", title="family",
                        scale=alt.Scale(domain=families) if families else alt.Undefined),
        opacity=alt.condition("datum.on_frontier", alt.value(1.0), alt.value(0.2)),
        tooltip=[alt.Tooltip(c, type="nominal" if data[c].dtype == object else "quantitative", title=t)
                 for c, t in TOOLTIP.items() if c in data],
    )
    line = alt.Chart(data[data["on_frontier"]].sort_values(cost)).mark_line(
        interpolate="step-after", color="gray", strokeDash=[4, 3]).encode(x=x, y=y)
    return alt.layer(line, dots).properties(height=320)
