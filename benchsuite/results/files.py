"""Reading and writing results files: one Parquet file per append, written to a temporary file, fsynced and
renamed; files of older schemas migrated, newer ones refused, unreadable ones named.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchsuite.errors import NewerSchemaError, StoreError, UnreadableFileError
from benchsuite.measure.hardware import benchsuite_version
from benchsuite.results.frames import empty_frame
from benchsuite.results.migrations import _MIGRATIONS
from benchsuite.results.schema import _CORE, _DTYPES, COLUMNS, SCHEMA_VERSION

TMP_PREFIX = ".tmp-"



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
