"""A large, plausible results store for the scale benchmarks: the history of many runs on several machines."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from benchsuite.results.schema import COLUMNS, SCHEMA, SCHEMA_VERSION

TASKS = ("mnist-cnn", "sentiment-minilm")
BACKENDS = ("torch-cpu", "torch-compile", "onnxruntime")
FAMILIES = ("quantization", "pruning", "distillation", "factorization", "dynamic", "other")
MACHINES = 5
#: parameter settings per method: a wide sweep, so that most rows are distinct configurations
SETTINGS = 400


def synthetic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` ok rows over 2 tasks, 6 method families × `SETTINGS` parameter settings, 3 backends, 5 machines and
    both tracks (48,000 distinct configurations; the rest are re-runs), in the store's schema."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    columns = {}
    for column in SCHEMA:
        if column.dtype == "float64":
            columns[column.name] = rng.random(n)
        elif column.dtype == "Int64":
            columns[column.name] = pd.array(rng.integers(1, 10**6, n), dtype="Int64")
        elif column.dtype == "boolean":
            columns[column.name] = pd.array(np.zeros(n, dtype=bool), dtype="boolean")
        elif column.dtype == "object":
            columns[column.name] = [None] * n
        elif column.dtype.startswith("datetime"):
            columns[column.name] = pd.Timestamp(datetime(2026, 1, 1, tzinfo=timezone.utc)) + pd.to_timedelta(i, "s")
        else:
            columns[column.name] = pd.array(np.full(n, "x", dtype=object), dtype="string")
    frame = pd.DataFrame(columns)

    def text(values) -> pd.arrays.StringArray:
        return pd.array(np.asarray(values, dtype=object), dtype="string")

    family = rng.integers(0, len(FAMILIES), n)
    setting = rng.integers(0, SETTINGS, n)
    machine = rng.integers(0, MACHINES, n)
    frame["schema_version"] = pd.array(np.full(n, SCHEMA_VERSION), dtype="Int64")
    frame["status"] = text(np.full(n, "ok"))
    frame["error"] = text(np.full(n, ""))
    frame["task"] = text(np.array(TASKS)[i % len(TASKS)])
    frame["task_version"] = text(np.full(n, "1"))
    frame["metric"] = text(np.full(n, "accuracy"))
    frame["method_family"] = text(np.array(FAMILIES)[family])
    frame["method"] = text([f"{FAMILIES[f]}-method" for f in family])
    frame["params"] = text([f'{{"setting":{s}}}' for s in setting])
    frame["config"] = text([f"{FAMILIES[f]}-method:setting={s}" for f, s in zip(family, setting)])
    frame["backend"] = text(np.array(BACKENDS)[rng.integers(0, len(BACKENDS), n)])
    frame["backend_params"] = text(np.full(n, "{}"))
    frame["track"] = text(np.array(["closed", "open"])[rng.integers(0, 2, n)])
    frame["hardware_fingerprint"] = text([f"{m:016x}" for m in machine * 7919])
    frame["cpu_model"] = text([f"CPU model {m}" for m in machine])
    frame["cpu_cores"] = pd.array(2 ** (machine + 1), dtype="Int64")
    frame["gpu"] = text(np.full(n, ""))
    frame["higher_is_better"] = pd.array(np.ones(n, dtype=bool), dtype="boolean")
    frame["score"] = 0.5 + 0.5 * rng.random(n)
    frame["score_ci_low"], frame["score_ci_high"] = frame["score"] - 0.01, frame["score"] + 0.01
    frame["latency_p50_ms"] = 10 ** rng.uniform(0, 3, n)
    frame["latency_b1_p50_ms"] = frame["latency_p50_ms"] / 20
    frame["model_size_bytes"] = pd.array((10 ** rng.uniform(4, 8, n)).astype(np.int64), dtype="Int64")
    frame["batch_size"] = pd.array(np.full(n, 32), dtype="Int64")
    frame["seed"] = pd.array(np.zeros(n, dtype=np.int64), dtype="Int64")
    return frame[list(COLUMNS)]
