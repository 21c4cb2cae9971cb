"""The columns a row derives from its own measurements and its baseline's: one definition, used by the runner
to fill them and by `store import` (bundlecheck.py) to check them. Imports no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchsuite.measure.stats import bootstrap_ratio_ci


def _value(value: Any) -> Any:
    """None for a missing value as Python, pandas or Parquet spell it (None, NaN, pd.NA)."""
    try:
        return None if value is None or value != value or (isinstance(value, float) and math.isnan(value)) else value
    except TypeError:  # pd.NA compares to nothing
        return None


@dataclass(frozen=True)
class Baseline:
    """What a task's baseline measured on one backend, as the other rows of the same run compare against it."""

    score: float | None = None
    latency_p50_ms: float | None = None
    latency_b1_p50_ms: float | None = None
    model_size_bytes: int | None = None
    flops: int | None = None
    latency_samples_ms: tuple[float, ...] = ()
    latency_b1_samples_ms: tuple[float, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Baseline:
        """From a baseline's measured values or its stored row."""
        def number(column: str, kind: type) -> Any:
            value = _value(row.get(column))
            return None if value is None else kind(value)

        def samples(column: str) -> tuple[float, ...]:
            return tuple(float(v) for v in _samples(row.get(column)))

        return cls(number("score", float), number("latency_p50_ms", float), number("latency_b1_p50_ms", float),
                   number("model_size_bytes", int), number("flops", int), samples("latency_samples_ms"),
                   samples("latency_b1_samples_ms"))


def _samples(value: Any) -> Any:
    """Timed samples (a list, or an array read back from the store), or () for an untimed row."""
    return () if value is None or isinstance(value, float) else value


def ratio(a: float | None, b: float | None) -> float | None:
    a, b = _value(a), _value(b)
    return a / b if a is not None and b else None


def relative_columns(measured: Mapping[str, Any], baseline: Baseline, seed: int) -> dict[str, Any]:
    """The row's columns relative to its baseline: score delta, speedups with their bootstrap intervals, size,
    FLOPs ratios and speedup efficiency."""
    realized = ratio(baseline.latency_p50_ms, measured.get("latency_p50_ms"))
    theoretical = ratio(baseline.flops, measured["flops"])
    ci = bootstrap_ratio_ci(baseline.latency_samples_ms, _samples(measured.get("latency_samples_ms")), seed=seed)
    ci_b1 = bootstrap_ratio_ci(baseline.latency_b1_samples_ms, _samples(measured.get("latency_b1_samples_ms")),
                               seed=seed)
    return {
        "baseline_score": baseline.score,
        "score_delta": measured["score"] - baseline.score if baseline.score is not None else None,
        "baseline_latency_p50_ms": baseline.latency_p50_ms,
        "realized_speedup": realized,
        "realized_speedup_ci_low": ci[0] if ci else None,
        "realized_speedup_ci_high": ci[1] if ci else None,
        "realized_speedup_b1": ratio(baseline.latency_b1_p50_ms, measured.get("latency_b1_p50_ms")),
        "realized_speedup_b1_ci_low": ci_b1[0] if ci_b1 else None,
        "realized_speedup_b1_ci_high": ci_b1[1] if ci_b1 else None,
        "baseline_model_size_bytes": baseline.model_size_bytes,
        "size_ratio": ratio(measured["model_size_bytes"], baseline.model_size_bytes),
        "baseline_flops": baseline.flops,
        "flops_ratio": ratio(measured["flops"], baseline.flops),
        "theoretical_speedup": theoretical,
        "speedup_efficiency": ratio(realized, theoretical),
    }
