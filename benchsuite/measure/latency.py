"""Per-call latency statistics (LatencyStats). Imports no torch: the runner pools the timings of several worker
processes with it (execution/passes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency statistics in milliseconds, with the samples they come from."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    samples: int
    warmup_calls: int
    samples_ms: tuple[float, ...] = ()
    #: whether warm-up reached a steady median before `max_warmup_seconds`
    steady: bool = True

    @classmethod
    def of(cls, samples_ms: Sequence[float], warmup_calls: int = 0, steady: bool = True) -> LatencyStats:
        ms = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(float(p50), float(p90), float(p99), float(ms.mean()),
                   float(ms.std(ddof=1)) if len(ms) > 1 else 0.0, len(ms), warmup_calls,
                   tuple(float(v) for v in ms), steady)

    def throughput_sps(self, batch_size: int) -> float:
        return batch_size / (self.mean_ms / 1000.0)

    def p50_ci_ms(self) -> tuple[float, float] | None:
        """Bootstrap 95% interval of the median."""
        from benchsuite.measure.stats import bootstrap_median_ci

        return bootstrap_median_ci(self.samples_ms)
