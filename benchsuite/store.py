"""The results store: a folder of Parquet files, one per finished run, appended atomically.

The schema below is the contract; `SCHEMA_VERSION` changes whenever a column is added, removed or changes type.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import StoreError
from .paths import store_dir

SCHEMA_VERSION = 4
FILE_PREFIX = "results-"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype
    description: str


SCHEMA: tuple[Column, ...] = (
    Column("schema_version", "Int64", "version of this schema"),
    Column("run_id", "string", "id shared by every row of one `benchsuite run`"),
    Column("created_at", "datetime64[ns, UTC]", "when the row was measured (UTC)"),
    Column("status", "string", "ok, failed or skipped"),
    Column("error", "string", "one-line reason for failed or skipped rows"),
    Column("quick", "boolean", "measured with --quick (small eval subset, short timing); hidden by default"),
    Column("track", "string", "closed (calibration + the shared fine-tuning budget) or open (any budget)"),
    Column("task", "string", "task name"),
    Column("task_version", "string", "task version; results of different versions are not comparable"),
    Column("modality", "string", "vision or nlp"),
    Column("metric", "string", "name of the task metric"),
    Column("higher_is_better", "boolean", "direction of the task metric"),
    Column("config", "string", "the method configuration as `benchsuite run --method` spells it (pipelines: a > b)"),
    Column("method", "string", "compression method name (pipelines: names joined by ' > ')"),
    Column("method_family", "string", "quantization, pruning, distillation, factorization, architecture, dynamic, other (pipelines: joined by ' > ')"),
    Column("method_version", "string", "method version (pipelines: joined by ' > ')"),
    Column("params", "string", "method parameters as canonical JSON (pipelines: a JSON list, one object per step)"),
    Column("method_plugin", "string", "plugin that registered the method (pipelines: joined by ' > ')"),
    Column("method_dist", "string", "distribution (or plugins-dir file) that ships the method"),
    Column("method_dist_version", "string", "version (or file hash) of that distribution"),
    Column("backend", "string", "backend name"),
    Column("backend_params", "string", "backend parameters as canonical JSON"),
    Column("device", "string", "device the backend ran on"),
    Column("threads", "Int64", "intra-op threads used for inference"),
    Column("allocator", "string", "C heap setting during timing: glibc warm heap (high mmap/trim thresholds) or "
           "system (the C library's defaults); see benchsuite/allocator.py"),
    Column("seed", "Int64", "seed for compression and data order"),
    Column("score", "float64", "task metric of this model on the evaluation split"),
    Column("extra_scores", "string", "JSON of the task's secondary metrics on the same evaluation, e.g. "
           "{\"top5_overlap\": 0.98}; empty if the task has none"),
    Column("baseline_score", "float64", "same metric of the uncompressed model, same run and backend"),
    Column("score_delta", "float64", "score - baseline_score"),
    Column("score_ci_low", "float64",
           "95% interval of score, low end (Wilson for accuracy-like metrics, bootstrap otherwise)"),
    Column("score_ci_high", "float64", "95% interval of score, high end"),
    Column("eval_samples", "Int64", "number of evaluation samples scored"),
    Column("batch_size", "Int64", "task batch size at which the latency_* columns are measured"),
    Column("latency_p50_ms", "float64", "median latency of one call at batch_size"),
    Column("latency_p90_ms", "float64", "90th percentile latency at batch_size"),
    Column("latency_p99_ms", "float64", "99th percentile latency at batch_size"),
    Column("latency_mean_ms", "float64", "mean latency at batch_size"),
    Column("latency_std_ms", "float64", "standard deviation of latency at batch_size"),
    Column("latency_p50_ci_low_ms", "float64", "bootstrap 95% interval of latency_p50_ms, low end"),
    Column("latency_p50_ci_high_ms", "float64", "bootstrap 95% interval of latency_p50_ms, high end"),
    Column("latency_samples", "Int64", "timed calls at batch_size"),
    Column("latency_samples_ms", "object", "every timed call's latency at batch_size, in order (list of ms)"),
    Column("latency_warmup_calls", "Int64", "untimed warm-up calls before the timed calls at batch_size"),
    Column("latency_steady", "boolean", "warm-up reached a steady median (within 5% between windows) in time"),
    Column("throughput_sps", "float64", "samples per second at batch_size (batch_size / mean latency)"),
    Column("realized_speedup", "float64", "baseline latency_p50_ms / this latency_p50_ms (same run, same backend)"),
    Column("realized_speedup_ci_low", "float64", "bootstrap 95% interval of realized_speedup, low end"),
    Column("realized_speedup_ci_high", "float64", "bootstrap 95% interval of realized_speedup, high end"),
    Column("latency_b1_p50_ms", "float64", "median latency at batch 1"),
    Column("latency_b1_p90_ms", "float64", "90th percentile latency at batch 1"),
    Column("latency_b1_p99_ms", "float64", "99th percentile latency at batch 1"),
    Column("latency_b1_mean_ms", "float64", "mean latency at batch 1"),
    Column("latency_b1_std_ms", "float64", "standard deviation of latency at batch 1"),
    Column("latency_b1_p50_ci_low_ms", "float64", "bootstrap 95% interval of latency_b1_p50_ms, low end"),
    Column("latency_b1_p50_ci_high_ms", "float64", "bootstrap 95% interval of latency_b1_p50_ms, high end"),
    Column("latency_b1_samples", "Int64", "timed calls at batch 1"),
    Column("latency_b1_samples_ms", "object", "every timed call's latency at batch 1, in order (list of ms)"),
    Column("realized_speedup_b1", "float64", "baseline / this median latency at batch 1"),
    Column("realized_speedup_b1_ci_low", "float64", "bootstrap 95% interval of realized_speedup_b1, low end"),
    Column("realized_speedup_b1_ci_high", "float64", "bootstrap 95% interval of realized_speedup_b1, high end"),
    Column("baseline_latency_p50_ms", "float64", "baseline median latency at batch_size, same run and backend"),
    Column("model_size_bytes", "Int64", "bytes of the state dict as serialized by torch.save"),
    Column("baseline_model_size_bytes", "Int64", "the same for the uncompressed model"),
    Column("size_ratio", "float64", "model_size_bytes / baseline_model_size_bytes"),
    Column("params_total", "Int64", "learned values (parameters and quantized weights)"),
    Column("params_nonzero", "Int64", "learned values that are not zero"),
    Column("sparsity", "float64", "1 - params_nonzero / params_total"),
    Column("flops", "Int64", "theoretical dense FLOPs of one forward pass at batch 1"),
    Column("baseline_flops", "Int64", "the same for the uncompressed model"),
    Column("flops_ratio", "float64", "flops / baseline_flops"),
    Column("theoretical_speedup", "float64", "baseline_flops / flops: the speedup the FLOPs promise"),
    Column("speedup_efficiency", "float64", "realized_speedup / theoretical_speedup (1: the FLOPs cut is fully realized)"),
    Column("compile_seconds", "float64", "seconds the backend took to make the model runnable (compilation, export, "
           "session creation) and its first batch-1 call; never part of latency"),
    Column("peak_memory_bytes", "Int64", "resident model tensors + peak extra memory of one call at batch_size"),
    Column("mean_exit_depth", "float64", "dynamic models: blocks/layers run per evaluation sample, on average"),
    Column("model_metrics", "string", "JSON of any other metrics the compressed model reported over the evaluation"),
    Column("compress_seconds", "float64", "wall seconds spent in the method's apply()"),
    Column("finetune_steps", "Int64", "fine-tuning steps the method used"),
    Column("finetune_budget_steps", "Int64", "fine-tuning steps the run allowed"),
    Column("finetune_budget_seconds", "float64", "fine-tuning wall seconds the run allowed"),
    Column("finetune_stopped_by_time", "boolean", "fine-tuning was cut short by the wall-clock budget"),
    Column("calibration_samples", "Int64", "calibration samples the method used"),
    Column("cpu_model", "string", "CPU model name"),
    Column("cpu_cores", "Int64", "logical CPU cores of the machine"),
    Column("ram_bytes", "Int64", "physical memory of the machine"),
    Column("os", "string", "operating system"),
    Column("gpu", "string", "GPU name, empty if none"),
    Column("hardware_fingerprint", "string", "hash of cpu_model, cpu_cores, RAM (GiB), gpu and os: rows with the "
           "same value were measured on comparable machines"),
    Column("python_version", "string", "Python version"),
    Column("torch_version", "string", "torch version"),
    Column("transformers_version", "string", "transformers version"),
    Column("benchsuite_version", "string", "benchsuite version"),
)
COLUMNS = tuple(c.name for c in SCHEMA)
_DTYPES = {c.name: c.dtype for c in SCHEMA}


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in SCHEMA})


def to_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (dicts with exactly the schema's columns) as a typed DataFrame."""
    rows = list(rows)
    for row in rows:
        extra, missing = set(row) - set(COLUMNS), set(COLUMNS) - set(row) - {"schema_version"}
        if extra or missing:
            raise StoreError(f"row does not match schema v{SCHEMA_VERSION}: "
                             f"unexpected {sorted(extra)}, missing {sorted(missing)}")
    frame = pd.DataFrame([{**row, "schema_version": SCHEMA_VERSION} for row in rows], columns=list(COLUMNS))
    for name, dtype in _DTYPES.items():
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


class ResultStore:
    """A folder of ``results-*.parquet`` files; appends never touch existing files."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = store_dir(path)

    def files(self) -> list[Path]:
        if not self.path.exists():
            return []
        if not self.path.is_dir():
            raise StoreError(f"store {self.path} is not a folder; pass --store with a folder path")
        return sorted(self.path.glob(f"{FILE_PREFIX}*.parquet"))

    def append(self, rows: Iterable[Mapping[str, Any]]) -> Path:
        """Write `rows` as one new Parquet file: temporary file, fsync, then an atomic rename."""
        frame = to_frame(rows)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store folder {self.path}: {exc.strerror}; pass a writable --store") from None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        final = self.path / f"{FILE_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.path / f".tmp-{final.name}"
        try:
            frame.to_parquet(tmp, index=False)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write to store {self.path}: {exc.strerror}; pass a writable --store") from None
        return final

    def read(self, exclude: Collection[str] = ()) -> pd.DataFrame:
        """Every row of every results file, in the schema's column order, without the `exclude` columns (the
        leaderboard leaves out the per-call timing samples, by far the largest columns)."""
        frames = []
        for file in self.files():
            try:
                frame = pd.read_parquet(file, columns=_columns_but(file, exclude) if exclude else None)
            except Exception as exc:
                raise StoreError(f"cannot read results file {file}: {type(exc).__name__}; "
                                 "move it out of the store folder") from None
            versions = set(frame["schema_version"].dropna().astype(int)) if "schema_version" in frame else {0}
            if max(versions, default=0) > SCHEMA_VERSION:
                raise StoreError(f"{file} has schema_version {max(versions)}, this benchsuite reads up to "
                                 f"{SCHEMA_VERSION}; upgrade benchsuite or use another --store")
            if versions == {1}:
                frame = _migrate_v3(_migrate_v2(_migrate_v1(frame)))
            elif versions == {2}:
                frame = _migrate_v3(_migrate_v2(frame))
            elif versions == {3}:
                frame = _migrate_v3(frame)
            elif versions != {SCHEMA_VERSION}:
                raise StoreError(f"{file} has schema_version {sorted(versions)}, which no benchsuite wrote; "
                                 "move it out of the store folder")
            frames.append(frame)
        kept = [c for c in COLUMNS if c not in exclude]
        if not frames:
            return empty_frame()[kept]
        out = pd.concat(frames, ignore_index=True)
        return out.reindex(columns=kept).astype({k: v for k, v in _DTYPES.items()
                                                 if k in kept and not v.startswith("datetime")})


def _columns_but(file: Path, exclude: Collection[str]) -> list[str]:
    import pyarrow.parquet as pq

    return [name for name in pq.read_schema(file).names if name not in exclude]


def _migrate_v1(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 1 -> 2: adds config, track, the seconds budget and model-reported metrics."""
    import json

    from .params import format_spec

    return frame.assign(
        schema_version=2,
        config=[format_spec(m, json.loads(p)) for m, p in zip(frame["method"], frame["params"])],
        track="open", finetune_budget_seconds=float("nan"), finetune_stopped_by_time=pd.NA,
        mean_exit_depth=float("nan"), model_metrics="",
    )


def load_results(store: str | Path | None = None) -> pd.DataFrame:
    """Every result in `store` (default: ``$BENCHSUITE_STORE`` or the user data folder) as a DataFrame."""
    return ResultStore(store).read()


def _migrate_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 2 -> 3: speedup columns renamed realized_*, hardware fingerprint computed from the machine columns;
    intervals, FLOPs ratios, compile time and timing samples, which v2 did not record, stay empty."""
    from .hardware import hardware_fingerprint

    machine = frame[["cpu_model", "cpu_cores", "ram_bytes", "gpu", "os"]].astype(object).fillna(0)
    return frame.rename(columns={"speedup": "realized_speedup", "speedup_b1": "realized_speedup_b1"}).assign(
        schema_version=3,
        hardware_fingerprint=[hardware_fingerprint(*values) for values in machine.itertuples(index=False)],
    )


def _migrate_v3(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 3 -> 4: adds the tasks' secondary metrics (`extra_scores`), which v3 did not record, and the
    allocator setting (v3 timed with the C library's defaults)."""
    allocator = frame["status"].map(lambda s: "system (before schema 4)" if s == "ok" else None)
    return frame.assign(schema_version=SCHEMA_VERSION, extra_scores="", allocator=allocator)
