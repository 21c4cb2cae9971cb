"""The results store: a folder of Parquet files, one per finished run, appended atomically under a lock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from benchsuite.errors import StoreError
from benchsuite.results.files import print_warning, read_files, write_file
from benchsuite.results.frames import to_frame
from benchsuite.results.keys import RUN_KEY_COLUMNS, run_keys
from benchsuite.results.schema import COLUMNS
from benchsuite.sdk.paths import store_dir

FILE_PREFIX = "results-"


LOCK_NAME = ".lock"



QUARANTINE = "quarantine"


#: how long a writer waits for the store lock before giving up
LOCK_TIMEOUT_S = 120.0


FIX_HINT = "`benchsuite store check --fix` moves it into the store's quarantine folder"


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

    def append(self, rows: Iterable[Mapping[str, Any]], validate: bool = True) -> Path:
        """Write `rows` as one new Parquet file, under the lock: temporary file, fsync, atomic rename, fsync of
        the folder. Rows that break the store's rules are refused before anything is written (`validate` False:
        the rows come from results/rows.py's RowBuilder, which validated each one as it built it)."""
        frame = to_frame(rows, validate=validate)
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


def load_results(store: str | Path | None = None) -> pd.DataFrame:
    """Every result in `store` (default: ``$BENCHSUITE_STORE`` or the user data folder) as a DataFrame."""
    return ResultStore(store).read()
