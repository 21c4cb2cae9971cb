"""The results store: a folder of Parquet files, one per finished run, appended atomically under a lock.

The schema below is the contract; `SCHEMA_VERSION` changes whenever a column is added, removed or changes type.
The rules rows obey are in storerules.py; checking and repairing a store is storecheck.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import NewerSchemaError, StoreError, UnreadableFileError
from .paths import store_dir

SCHEMA_VERSION = 6
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
    Column("status", "string", "ok; failed (an exception, a wrong return type, a failed integrity check), timeout "
           "(past the wall-time limit), crashed (the worker died: signal, abort, exit, memory limit) or skipped"),
    Column("error", "string", "one-line reason for rows that are not ok"),
    Column("traceback_file", "string", "for failed, timeout and crashed rows: the saved traceback (or the worker's "
           "last output), relative to the store folder; empty otherwise"),
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
    Column("integrity", "string", "integrity checks this row passed, e.g. `passed: outputs, budget, artifact`, "
           "or `failed: <reason>`; empty for rows that were not measured"),
    Column("artifact_sha256", "string", "sha256 of the compressed model's serialized weights (the artifact "
           "`benchsuite submit` saves and re-evaluates)"),
    Column("time_limit_seconds", "float64", "wall-time limit of each phase of the run's worker process"),
    Column("executor", "string", "where the run's cell ran: local (one after another on this machine) or dask"),
    Column("timed", "boolean", "latency and memory were measured; false for `--accuracy-only` rows (score, size "
           "and FLOPs only), which the leaderboard does not rank"),
    Column("compression_cached", "boolean", "the compressed model came from the artifact cache: compress_seconds "
           "and the fine-tuning columns are those of the run that made it"),
    Column("timing_started_at", "datetime64[ns, UTC]", "when the latency measurement began (UTC), under the "
           "host's timing lock"),
    Column("timing_seconds", "float64", "wall seconds the latency measurement (both batch sizes) took"),
    Column("timing_lock_wait_seconds", "float64", "seconds this run waited for the host's timing lock (another "
           "benchsuite run was timing on the machine)"),
    Column("yielded_to_timing_seconds", "float64", "seconds this run's compression and evaluation stood aside "
           "while another run on the machine was timing (kept out of compress_seconds and the fine-tuning budget)"),
    Column("timing_background_cpu", "float64", "share of the machine's CPU time other processes used while this "
           "run was timed (0: nothing else ran; 0.5 on 2 cores: one core busy throughout)"),
    Column("memory_limit_bytes", "Int64", "resident-memory limit of the run's worker process"),
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
#: every value `status` may take
STATUSES = ("ok", "failed", "skipped", "timeout", "crashed")
#: columns no row may leave missing or empty
REQUIRED = ("run_id", "status", "task", "method", "backend")
#: columns a measured (status ok) row must fill with a finite number
MEASURED = ("score", "latency_p50_ms", "latency_b1_p50_ms")
#: what a run's identity is made of: two rows with the same values measured the same thing (see run_key)
RUN_KEY_COLUMNS = ("task", "task_version", "config", "method_version", "params", "backend", "backend_params",
                   "hardware_fingerprint", "seed", "quick", "track", "finetune_budget_steps",
                   "finetune_budget_seconds")
#: columns without which a Parquet file is not a results file of any schema version
_CORE = ("schema_version", "run_id", "status", "task", "method", "backend")
LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-"
QUARANTINE = "quarantine"
#: how long a writer waits for the store lock before giving up
LOCK_TIMEOUT_S = 120.0
FIX_HINT = "`benchsuite store check --fix` moves it into the store's quarantine folder"


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in SCHEMA})


def to_frame(rows: Iterable[Mapping[str, Any]], validate: bool = True) -> pd.DataFrame:
    """Rows (dicts with exactly the schema's columns) as a typed DataFrame; with `validate`, refused with a
    StoreError naming the row, the column and the value when a row breaks the store's rules (storerules.py)."""
    rows = list(rows)
    for row in rows:
        extra, missing = set(row) - set(COLUMNS), set(COLUMNS) - set(row) - {"schema_version"}
        if extra or missing:
            raise StoreError(f"row does not match schema v{SCHEMA_VERSION}: "
                             f"unexpected {sorted(extra)}, missing {sorted(missing)}")
    frame = pd.DataFrame([{**row, "schema_version": SCHEMA_VERSION} for row in rows], columns=list(COLUMNS))
    try:
        frame = frame.astype({k: v for k, v in _DTYPES.items() if not v.startswith("datetime")})
        for name in (k for k, v in _DTYPES.items() if v.startswith("datetime")):
            frame[name] = pd.to_datetime(frame[name], utc=True)
    except (ValueError, TypeError, OverflowError):
        raise StoreError(_type_problem(frame)) from None
    if validate:
        from .storerules import validate as check

        check(frame)
    return frame


_KINDS = {"float64": "a number", "Int64": "an integer", "boolean": "true or false", "string": "text",
          "object": "a list", "datetime64[ns, UTC]": "a timestamp"}


def _type_problem(frame: pd.DataFrame) -> str:
    """The first value of `frame` that does not convert to its column's dtype, as a one-line message."""
    from .storerules import row_label

    for name, dtype in _DTYPES.items():
        for index, value in frame[name].items():
            try:
                if dtype.startswith("datetime"):
                    pd.to_datetime(pd.Series([value]), utc=True)
                else:
                    pd.Series([value], dtype=object).astype(dtype)
            except (ValueError, TypeError, OverflowError):
                return f"row {row_label(frame.loc[index])}: {name} is {value!r}; it must be {_KINDS.get(dtype, dtype)}"
    return "rows do not convert to the schema's types"


class ResultStore:
    """A folder of ``results-*.parquet`` files; appends never touch existing files.

    Every write happens under the store lock (``<store>/.lock``) through a ``.tmp-*`` file, fsync and an atomic
    rename; reads skip (and name) files that are not results files, and refuse files of a newer schema.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = store_dir(path)

    def files(self) -> list[Path]:
        if not self.path.exists():
            return []
        if not self.path.is_dir():
            raise StoreError(f"store {self.path} is not a folder; pass --store with a folder path")
        return sorted(self.path.glob(f"{FILE_PREFIX}*.parquet"))

    def _create(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"store {self.path} is not a folder; pass --store with a folder path")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store folder {self.path}: {exc.strerror}; "
                             "pass a writable --store") from None

    @contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold the store's write lock (a lock file, ``<store>/.lock``, shared by every process on this machine).

        Re-entrant in one thread: `append` inside a ``with store.lock():`` block does not deadlock. Raises
        StoreError when another writer holds it for more than `timeout` seconds.
        """
        from filelock import FileLock, Timeout

        self._create()
        lock = FileLock(self.path / LOCK_NAME, is_singleton=True)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreError(f"store {self.path} is locked by another writer for more than {timeout:g} s "
                             f"({self.path / LOCK_NAME}); wait for it to finish, then try again") from None
        except OSError as exc:
            raise StoreError(f"cannot lock store {self.path}: {exc.strerror}; pass a writable --store") from None
        try:
            yield
        finally:
            lock.release()

    def append(self, rows: Iterable[Mapping[str, Any]]) -> Path:
        """Write `rows` as one new Parquet file, under the lock: temporary file, fsync, atomic rename, fsync of
        the folder. Rows that break the store's rules are refused before anything is written."""
        frame = to_frame(rows)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        with self.lock():
            return write_file(frame, self.path / f"{FILE_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}.parquet")

    def read(self, exclude: Collection[str] = (), warn: Callable[[str], None] | None = None) -> pd.DataFrame:
        """Every row of every results file, in the schema's column order, without the `exclude` columns (the
        leaderboard leaves out the per-call timing samples, by far the largest columns).

        A file that is not a readable results file is skipped and named through `warn` (default: a
        ``benchsuite: warning:`` line on stderr); a file of a newer schema raises NewerSchemaError.
        """
        return self._read([c for c in COLUMNS if c not in exclude], warn)

    def done_keys(self, statuses: Collection[str] = ("ok", "skipped"),
                  warn: Callable[[str], None] | None = None, timed_only: bool = False) -> set[str]:
        """`run_key` of every stored row whose status is in `statuses`: the runs a resumed grid need not redo.
        With `timed_only`, only rows that measured latency count (an `--accuracy-only` row does not make a full
        run skip its configuration). Reads only the key columns, status and timed; skips unreadable files."""
        frame = self._read([*RUN_KEY_COLUMNS, "status", "timed"], warn)
        keep = frame["status"].isin(list(statuses)).fillna(False).astype(bool)
        if timed_only:
            keep &= frame["timed"].fillna(True).astype(bool)
        return set(run_keys(frame[keep]))


    def _read(self, columns: Sequence[str], warn: Callable[[str], None] | None) -> pd.DataFrame:
        found = read_files(self.files(), columns)
        found.raise_newer()
        for problem in found.unreadable:
            (warn or print_warning)(f"skipped {problem}; {FIX_HINT}")
        return found.frame


def print_warning(message: str) -> None:
    print(f"benchsuite: warning: {message}", file=sys.stderr)


def write_file(frame: pd.DataFrame, final: Path) -> Path:
    """Write `frame` (typed, validated) to `final` through a ``.tmp-`` file in the same folder: written, flushed,
    fsynced, renamed over `final`, then the folder fsynced. Call it under the store lock. On any failure the
    temporary file is removed and `final` is untouched."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = final.with_name(f"{TMP_PREFIX}{final.name}")
    done = False
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"benchsuite_version": benchsuite_version().encode(),
                                               b"schema_version": str(SCHEMA_VERSION).encode()})
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, write_page_checksum=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        done = True
    except OSError as exc:
        raise StoreError(f"cannot write to store {final.parent}: {exc.strerror}; pass a writable --store") from None
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise StoreError(f"cannot write results to {final.parent}: {type(exc).__name__}: "
                         f"{_first_line(exc)}") from None
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
    fsync_folder(final.parent)
    return final


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def benchsuite_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("benchsuite")
    except PackageNotFoundError:
        return "unknown"


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message (pyarrow's run on), at most 160 characters."""
    text = str(exc).strip().splitlines()
    return (text[0].split(". ")[0] if text else type(exc).__name__)[:160]


@dataclass(frozen=True)
class FilesRead:
    """What `read_files` found: the rows of the readable files, and the files it could not use."""

    #: the readable files' rows: current schema, the requested columns, typed
    frame: pd.DataFrame
    #: for each row of `frame`, the file it came from
    source: tuple[Path, ...]
    #: files that are corrupted, truncated, foreign or of a schema_version no benchsuite wrote
    unreadable: tuple[UnreadableFileError, ...]
    #: files of a newer schema than this benchsuite reads
    newer: tuple[NewerSchemaError, ...]

    def raise_newer(self) -> None:
        if self.newer:
            raise self.newer[0]


def read_files(files: Sequence[Path], columns: Sequence[str] = COLUMNS) -> FilesRead:
    """The rows of `files` (older schema versions migrated) with `columns`; files that cannot be used are
    collected, not raised. Current-version files are concatenated as Arrow tables and converted once, so a
    store of many one-row files reads fast."""
    import pyarrow as pa

    columns = list(columns)
    frames: list[pd.DataFrame] = []
    source: list[Path] = []
    unreadable: list[UnreadableFileError] = []
    newer: list[NewerSchemaError] = []
    batch: list[tuple[Path, Any]] = []  # consecutive current-version files, as Arrow tables
    for file in [*files, None]:  # None: the end, to convert the last batch
        part = None
        if file is not None:
            try:
                part = _read_one(file, columns)
            except UnreadableFileError as exc:
                unreadable.append(exc)
            except NewerSchemaError as exc:
                newer.append(exc)
            if isinstance(part, pa.Table):
                batch.append((file, part))
                continue
        if batch:
            frame, files_of_rows = _to_pandas(batch, unreadable)
            frames.append(frame)
            source += files_of_rows
            batch = []
        if part is not None:
            frames.append(part)
            source += [file] * len(part)
    frames = [f.reindex(columns=columns) for f in frames if len(f)]
    if not frames:
        return FilesRead(empty_frame()[columns], (), tuple(unreadable), tuple(newer))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    frame = frame.astype({k: v for k, v in _DTYPES.items() if k in columns and not v.startswith("datetime")})
    return FilesRead(frame, tuple(source), tuple(unreadable), tuple(newer))


def read_file(file: Path, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """One results file as a frame of the current schema (older versions migrated) with `columns`.

    Raises UnreadableFileError for a file that is not Parquet, is truncated or corrupted, lacks the results
    columns or has a schema_version no benchsuite wrote; NewerSchemaError for a file of a newer schema.
    """
    found = read_files([file], columns)
    found.raise_newer()
    if found.unreadable:
        raise found.unreadable[0]
    return found.frame


def _to_pandas(batch: list[tuple[Path, Any]], unreadable: list[UnreadableFileError]) -> tuple[pd.DataFrame, list[Path]]:
    """One frame of the batch's Arrow tables and the file of each row. Converted together when they can be; when
    that fails, one by one, and the files that fail alone join `unreadable`."""
    import pyarrow as pa

    try:
        tables = [table for _, table in batch]
        frame = (pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]).to_pandas()
        return frame, [file for file, table in batch for _ in range(table.num_rows)]
    except Exception:  # a file whose data or pandas metadata is damaged; find which
        pass
    frames, files = [], []
    for file, table in batch:
        try:
            frames.append(table.to_pandas())
        except Exception as exc:
            unreadable.append(UnreadableFileError(file, f"not a readable Parquet file ({type(exc).__name__}: "
                                                        f"{_first_line(exc)})"))
            continue
        files += [file] * table.num_rows
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), files


def _arrow_fits(dtype: str, kind: Any) -> bool:
    """Whether a column of Arrow type `kind` reads as pandas `dtype` (null: a column empty in every row)."""
    import pyarrow.types as t

    if t.is_null(kind):
        return True
    if dtype == "float64":
        return t.is_floating(kind) or t.is_integer(kind)
    if dtype == "Int64":
        return t.is_integer(kind)
    if dtype == "boolean":
        return t.is_boolean(kind)
    if dtype == "string":
        return t.is_string(kind) or t.is_large_string(kind) or getattr(t, "is_string_view", lambda _: False)(kind)
    if dtype.startswith("datetime"):
        return t.is_timestamp(kind)
    return t.is_list(kind) or t.is_large_list(kind)  # the per-call latency samples


def _read_one(file: Path, columns: list[str]) -> Any:
    """A current-version file's requested columns as an Arrow table; an older file migrated, as a frame."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(file, page_checksum_verification=True) as parquet:
            schema = parquet.schema_arrow
            names = set(schema.names)
            meta = schema.metadata or {}
            missing = [c for c in _CORE if c not in names]
            if missing:
                raise UnreadableFileError(file, f"not a benchsuite results file (no {', '.join(missing)} column)")
            present = [c for c in columns if c in names]
            threads = parquet.metadata.num_rows > 10_000  # threads cost more than they save on small files
            table = parquet.read(columns=present + ["schema_version"] * ("schema_version" not in present),
                                 use_threads=threads)
            versions = {int(v) for v in table.column("schema_version").drop_null().to_pylist()}
            declared = meta.get(b"schema_version")
            if declared is not None and declared.isdigit():
                versions.add(int(declared))
            version = max(versions, default=0)
            if version > SCHEMA_VERSION:
                raise NewerSchemaError(file, _newer_reason(version, meta, parquet))
            if len(versions) != 1 or version < 1:
                shown = ", ".join(map(str, sorted(versions))) or "empty"
                raise UnreadableFileError(file, f"schema_version {shown}, which no benchsuite wrote")
            if version < SCHEMA_VERSION:
                frame = parquet.read(use_threads=threads).to_pandas()
            else:
                wrong = [f"{c} is {schema.field(c).type}, not {_DTYPES[c]}" for c in schema.names
                         if c in _DTYPES and not _arrow_fits(_DTYPES[c], schema.field(c).type)]
                if wrong:
                    raise UnreadableFileError(file, f"not a benchsuite results file ({wrong[0]})")
                return table.select(present)
    except (UnreadableFileError, NewerSchemaError):
        raise
    except Exception as exc:  # pyarrow's errors for corrupted, truncated or foreign bytes vary by cause
        raise UnreadableFileError(file, f"not a readable Parquet file ({type(exc).__name__}: {_first_line(exc)})") \
            from None
    try:
        for migrate in _MIGRATIONS[version - 1:]:
            frame = migrate(frame)
        frame = frame.reindex(columns=columns).astype({k: v for k, v in _DTYPES.items()
                                                       if k in columns and not v.startswith("datetime")})
    except Exception as exc:
        raise UnreadableFileError(file, f"cannot migrate schema_version {version} to {SCHEMA_VERSION} "
                                        f"({type(exc).__name__}: {_first_line(exc)})") from None
    return frame.reindex(columns=columns)


def _newer_reason(version: int, meta: Mapping[bytes, bytes], parquet: Any) -> str:
    writer = meta.get(b"benchsuite_version", b"").decode(errors="replace")
    if not writer and "benchsuite_version" in parquet.schema_arrow.names:
        values = parquet.read(columns=["benchsuite_version"]).column(0).drop_null().to_pylist()
        writer = str(values[0]) if values else ""
    by = f"benchsuite {writer}" if writer else "a newer benchsuite"
    return (f"schema_version {version}, written by {by}; this benchsuite {benchsuite_version()} reads "
            f"schema_version {SCHEMA_VERSION} and older: upgrade benchsuite (pip install -U benchsuite) or use "
            "another --store")


def run_key(row: Mapping[str, Any]) -> str:
    """A short stable hash of what a run measured (RUN_KEY_COLUMNS): a row built in Python and the same row read
    back from the store give the same key. Missing values (None, NaN, pd.NA) are one value; numbers compare by
    value (numpy or Python, 900 or 900.0); the JSON of params and backend_params by content."""
    return _hash([_key_text(name, row.get(name)) for name in RUN_KEY_COLUMNS])


def run_keys(frame: pd.DataFrame) -> list[str]:
    """`run_key` of every row of `frame`, in order (columns it lacks count as missing); fast on large frames."""
    if not len(frame):
        return []
    cache: dict[tuple[str, Any], str] = {}

    def column(name: str) -> list[str]:
        if name not in frame:
            return [_key_text(name, None)] * len(frame)
        out = []
        for value in frame[name].astype(object).tolist():
            try:
                out.append(cache[name, value])
            except KeyError:
                cache[name, value] = text = _key_text(name, value)
                out.append(text)
            except TypeError:  # an unhashable value
                out.append(_key_text(name, value))
        return out

    return [_hash(texts) for texts in zip(*(column(name) for name in RUN_KEY_COLUMNS))]


def _key_text(name: str, value: Any) -> str:
    """`value` normalized, as JSON: null for every kind of missing, an integer for an integral number, the
    canonical JSON of a params text."""
    import numpy as np

    if value is None or value is pd.NA or value is pd.NaT:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "null" if math.isnan(value) else str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if name in ("params", "backend_params"):
        try:
            text = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass
    return json.dumps(text)


def _hash(texts: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]


def load_results(store: str | Path | None = None) -> pd.DataFrame:
    """Every result in `store` (default: ``$BENCHSUITE_STORE`` or the user data folder) as a DataFrame."""
    return ResultStore(store).read()


def _migrate_v1(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 1 -> 2: adds config, track, the seconds budget and model-reported metrics."""
    from .params import format_spec

    return frame.assign(
        schema_version=2,
        config=[format_spec(m, json.loads(p)) for m, p in zip(frame["method"], frame["params"])],
        track="open", finetune_budget_seconds=float("nan"), finetune_stopped_by_time=pd.NA,
        mean_exit_depth=float("nan"), model_metrics="",
    )


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
    return frame.assign(schema_version=4, extra_scores="", allocator=allocator)


def _migrate_v4(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 4 -> 5: adds the fault-isolation and integrity columns; v4 ran in-process, unchecked, unlimited."""
    return frame.assign(schema_version=5, traceback_file="", integrity="", artifact_sha256="",
                        time_limit_seconds=float("nan"), memory_limit_bytes=pd.NA)


def _migrate_v5(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 5 -> 6: adds the executor, accuracy-only and artifact-cache columns and the timing window; v5 ran
    locally, timed every ok row, compressed every model anew, and did not record its timing window."""
    return frame.assign(schema_version=SCHEMA_VERSION, executor="local", timed=True, compression_cached=False,
                        timing_started_at=pd.NaT, timing_seconds=float("nan"), timing_lock_wait_seconds=float("nan"),
                        yielded_to_timing_seconds=float("nan"), timing_background_cpu=float("nan"))


#: _MIGRATIONS[v - 1] turns a frame of schema v into one of schema v + 1
_MIGRATIONS = (_migrate_v1, _migrate_v2, _migrate_v3, _migrate_v4, _migrate_v5)
