"""Every result row is built here, from the schema's columns (schema.py): `RowBuilder` fills each column from
its source (the run's identity, the machine, the backend, the compression cost, the limits, the measurements,
the baseline), sets the defaults and validates the row once; `relative_columns` is also what `store import`
(submissions/importing.py) checks a bundle's derived columns against. Imports no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from benchsuite.measure.stats import bootstrap_ratio_ci
from benchsuite.results.schema import COL, COLUMNS, SCHEMA, SOURCES


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

        def floats(column: str) -> tuple[float, ...]:
            return tuple(float(v) for v in samples(row.get(column)))

        return cls(number(COL.score, float), number(COL.latency_p50_ms, float),
                   number(COL.latency_b1_p50_ms, float), number(COL.model_size_bytes, int), number(COL.flops, int),
                   floats(COL.latency_samples_ms), floats(COL.latency_b1_samples_ms))


def samples(value: Any) -> Any:
    """Timed samples (a list, or an array read back from the store), or () for an untimed row."""
    return () if value is None or isinstance(value, float) else value


def ratio(a: float | None, b: float | None) -> float | None:
    a, b = _value(a), _value(b)
    return a / b if a is not None and b else None


def relative_columns(measured: Mapping[str, Any], baseline: Baseline, seed: int) -> dict[str, Any]:
    """The row's columns relative to its baseline: score delta, speedups with their intervals (repeat-run
    intervals of the interleaved rounds; bootstrap intervals of two sessions for rows timed apart), size, FLOPs
    ratios and speedup efficiency."""
    rounds = samples(measured.get(COL.speedup_round_ratios))
    rounds_b1 = samples(measured.get(COL.speedup_b1_round_ratios))
    if len(rounds):  # timed interleaved with the baseline in its own cell: the rounds decide
        between = _value(measured.get(COL.speedup_between_runs_sd)) or 0.0
        realized, ci = speedup_of_rounds(rounds, between, _passes(measured.get(COL.speedup_pass_rounds)))
        realized_b1, ci_b1 = speedup_of_rounds(rounds_b1, between, _passes(
            measured.get(COL.speedup_b1_pass_rounds))) if len(rounds_b1) else (None, None)
        method = "interleaved"
        if measured.get(COL.method) == "baseline":  # paired with itself: 1 by definition, the interval the noise
            realized, realized_b1 = 1.0, 1.0 if realized_b1 is not None else None
    else:  # rows timed apart from their baseline (bundles of older versions): two sessions' medians
        realized = ratio(baseline.latency_p50_ms, measured.get(COL.latency_p50_ms))
        ci = bootstrap_ratio_ci(baseline.latency_samples_ms, samples(measured.get(COL.latency_samples_ms)),
                                seed=seed)
        realized_b1 = ratio(baseline.latency_b1_p50_ms, measured.get(COL.latency_b1_p50_ms))
        ci_b1 = bootstrap_ratio_ci(baseline.latency_b1_samples_ms,
                                   samples(measured.get(COL.latency_b1_samples_ms)), seed=seed)
        method = "separate sessions" if realized is not None else None
    theoretical = ratio(baseline.flops, measured[COL.flops])
    return {
        COL.baseline_score: baseline.score,
        COL.score_delta: measured[COL.score] - baseline.score if baseline.score is not None else None,
        COL.baseline_latency_p50_ms: baseline.latency_p50_ms,
        COL.realized_speedup: realized,
        COL.realized_speedup_ci_low: ci[0] if ci else None,
        COL.realized_speedup_ci_high: ci[1] if ci else None,
        COL.speedup_method: method,
        COL.realized_speedup_b1: realized_b1,
        COL.realized_speedup_b1_ci_low: ci_b1[0] if ci_b1 else None,
        COL.realized_speedup_b1_ci_high: ci_b1[1] if ci_b1 else None,
        COL.baseline_model_size_bytes: baseline.model_size_bytes,
        COL.size_ratio: ratio(measured[COL.model_size_bytes], baseline.model_size_bytes),
        COL.baseline_flops: baseline.flops,
        COL.flops_ratio: ratio(measured[COL.flops], baseline.flops),
        COL.theoretical_speedup: theoretical,
        COL.speedup_efficiency: ratio(realized, theoretical),
    }


def _passes(value: Any) -> list[int] | None:
    """The rounds per worker process (a list, or an array read back from the store), or None (one process)."""
    counts = samples(value)
    return [int(n) for n in counts] if len(counts) > 1 else None


def speedup_of_rounds(ratios: Sequence[float], between_runs_sd: float,
                      passes: Sequence[int] | None = None) -> tuple[float, tuple[float, float] | None]:
    """The speedup of interleaved rounds (the median of their ratios; the geometric mean of the processes'
    medians where `passes` splits them among worker processes) and the 95% interval in which a repeat run on the
    same machine would measure it: the rounds' spread plus the between-runs term (measure/intervals.py)."""
    from benchsuite.measure.intervals import pooled_speedup, repeat_run_interval

    values = [float(v) for v in ratios]
    return pooled_speedup(values, passes), repeat_run_interval(values, between_runs_sd, passes=passes)


def latency_columns(prefix: str, stats: Any) -> dict[str, Any]:
    """The columns of one latency measurement (a LatencyStats), `prefix` ``latency`` (at the task batch size) or
    ``latency_b1`` (at batch 1)."""
    ci = stats.p50_ci_ms()
    values = {
        "p50_ms": stats.p50_ms, "p90_ms": stats.p90_ms, "p99_ms": stats.p99_ms, "mean_ms": stats.mean_ms,
        "std_ms": stats.std_ms, "samples": stats.samples, "p50_ci_low_ms": ci[0] if ci else None,
        "p50_ci_high_ms": ci[1] if ci else None, "samples_ms": [float(v) for v in stats.samples_ms],
    }
    return {getattr(COL, f"{prefix}_{name}"): value for name, value in values.items()}


_BY_SOURCE = {source: frozenset(c.name for c in SCHEMA if c.source == source) for source in SOURCES}
#: sources whose values may also fill columns of a later source (the worker reports what it measured and what
#: compressing cost; both carry a few columns that the run's options or the machine also know)
_MAY_ALSO_FILL = {"cost": frozenset({COL.finetune_budget_steps, COL.finetune_budget_seconds,
                                     COL.yielded_to_timing_seconds}),
                  "measured": frozenset({COL.timed})}


def _filled(row: dict[str, Any], source: str, values: Mapping[str, Any]) -> None:
    allowed = _BY_SOURCE[source] | _MAY_ALSO_FILL.get(source, frozenset())
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"{source} values name columns that are not {source} columns of the schema: "
                         f"{sorted(unknown)}")
    row.update(values)


@dataclass(frozen=True)
class RowBuilder:
    """Builds the rows of one cell (a task, a method configuration, a seed): one per backend.

    :param identity: the ``run`` columns (task, method, options, seed, ...).
    :param machine: the ``machine`` columns of the machine the cell runs on.
    """

    identity: Mapping[str, Any]
    machine: Mapping[str, Any]

    def key(self, backend: str, backend_params: str) -> str:
        """The run key (keys.py) of this cell's row on `backend`: what a resumed grid finds in the store."""
        from benchsuite.results.keys import run_key

        return run_key({**self.identity, **self.machine, COL.backend: backend, COL.backend_params: backend_params})

    def row(self, backend: str, backend_params: str, *, status: str, error: str = "", device: str | None = None,
            measured: Mapping[str, Any] | None = None, cost: Mapping[str, Any] | None = None,
            baseline: Baseline | None = None, traceback_file: str = "", machine: Mapping[str, Any] | None = None,
            limits: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One backend's row, validated (`valid`).

        :param device: the backend's device, when the measurements do not say it.
        :param baseline: for an ok row, the task's baseline on the same backend: fills the relative columns.
        :param machine: the machine that ran it when not the builder's (a Dask worker's).
        :param limits: the ``limits`` columns of the worker that measured it (none for rows decided without a run,
            or measured in this process).
        """
        row: dict[str, Any] = dict.fromkeys(c for c in COLUMNS if c != COL.schema_version)
        _filled(row, "run", self.identity)
        _filled(row, "machine", machine or self.machine)
        _filled(row, "cost", cost or {})
        _filled(row, "limits", limits or {})
        _filled(row, "measured", measured or {})
        row.update({COL.status: status, COL.error: error,
                    COL.backend: backend, COL.backend_params: backend_params, COL.traceback_file: traceback_file,
                    COL.created_at: datetime.now(timezone.utc)})
        if row[COL.device] is None:
            row[COL.device] = device
        if status == "ok" and baseline is not None:
            row.update(relative_columns(row, baseline, row[COL.seed]))
        return valid(row)


def valid(row: dict[str, Any]) -> dict[str, Any]:
    """The row, or, when a plugin made it break the store's rules (a NaN score, an infinite latency), a failed row
    that says which rule, without the non-finite numbers. The one place a built row is checked."""
    from benchsuite.results.frames import to_frame
    from benchsuite.results.rules import row_problems

    problems = row_problems(to_frame([row], validate=False))
    if not problems:
        return row
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    cleared = {k: None for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)}
    return {**row, **cleared, COL.status: "failed", COL.error: f"invalid result: {problems[0].message}{more}"}


def joined(values: Sequence[str]) -> str:
    """A pipeline's per-step values in one column: ``a > b``."""
    return " > ".join(values)
