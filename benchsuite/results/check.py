"""`benchsuite store check [--fix]`: find what in a results store cannot be read, should not be there or is there
twice; with fix, set it aside in the store's quarantine folder (a results file is moved, never deleted)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchsuite.results.files import FilesRead, fsync_folder, read_files, write_file
from benchsuite.results.keys import run_keys
from benchsuite.results.rules import row_label, row_problems
from benchsuite.results.files import TMP_PREFIX
from benchsuite.results.store import QUARANTINE, ResultStore

#: a `.tmp-*` file younger than this may belong to a writer still at work; older ones were left by a crash
TMP_GRACE_S = 600.0

UNREADABLE, NEWER, TEMP = "unreadable", "newer-schema", "temp-file"
INVALID, DUPLICATE = "invalid-row", "duplicate-row"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store."""

    kind: str  # UNREADABLE, NEWER, TEMP, INVALID or DUPLICATE
    path: Path  # the file it is in
    detail: str  # one line

    @property
    def fixable(self) -> bool:
        return self.kind != NEWER  # only a newer benchsuite reads those; they stay where they are

    def line(self) -> str:
        return f"{self.kind}: {self.path.name}: {self.detail}"


@dataclass(frozen=True)
class Action:
    """One change `fix` made."""

    verb: str  # moved (a whole file into quarantine), rewrote (a file without some rows; the original moved into
    #            quarantine) or removed (a leftover temporary file)
    path: Path
    quarantined: Path | None = None  # where the original is now
    detail: str = ""

    def line(self, store: Path) -> str:
        where = f" -> {_relative(self.quarantined, store)}" if self.quarantined else ""
        return f"{self.verb} {self.path.name}{where}{': ' + self.detail if self.detail else ''}"


@dataclass(frozen=True)
class StoreReport:
    """What `check_store` found, and what it changed when asked to fix."""

    store: Path
    files: int  # results files looked at
    rows: int  # rows in the readable ones
    problems: tuple[Problem, ...] = ()
    actions: tuple[Action, ...] = ()
    fixed: bool = False  # whether fix was asked for

    @property
    def remaining(self) -> tuple[Problem, ...]:
        """Problems still in the store: all of them without fix; with fix, those it must not touch."""
        return tuple(p for p in self.problems if not (self.fixed and p.fixable))

    @property
    def clean(self) -> bool:
        return not self.remaining

    def lines(self) -> list[str]:
        """The report, one problem or change a line."""
        return [p.line() for p in self.problems] + [a.line(self.store) for a in self.actions]

    def summary(self) -> str:
        """One line: the verdict and what to do next."""
        where = f"store {self.store} ({self.files} results file{_s(self.files)}, {self.rows} row{_s(self.rows)})"
        if not self.problems:
            return f"{where} is clean"
        upgrade = "only a newer benchsuite reads the newer-schema files: upgrade benchsuite (pip install -U benchsuite)"
        if not self.fixed:
            hints = ["`benchsuite store check --fix` moves bad files and rows into the store's quarantine folder"] \
                if any(p.fixable for p in self.problems) else []
            hints += [upgrade] if any(not p.fixable for p in self.problems) else []
            return f"{where}: {_count(self.problems)}; {'; '.join(hints)}"
        fixed = len(self.problems) - len(self.remaining)
        quarantine = next((a.quarantined.parent for a in self.actions if a.quarantined), None)
        done = (f"fixed {fixed} problem{_s(fixed)}" if fixed else "nothing --fix can fix") \
            + (f", originals in {quarantine}" if quarantine else "")
        if not self.remaining:
            return f"{where}: {done}; the store is clean"
        return f"{where}: {done}; {_count(self.remaining)} left: {upgrade}"


def check_store(store: str | Path | None = None, fix: bool = False, now: float | None = None) -> StoreReport:
    """Check every file of `store` (default: ``$BENCHSUITE_STORE`` or the user data folder).

    Finds unreadable (corrupted, truncated, foreign) results files, files of a newer schema, ``.tmp-*`` files older
    than TMP_GRACE_S, rows that break the store's rules and duplicate rows (same run_id and run_key). With `fix`,
    under the store lock: unreadable files move into ``<store>/quarantine/<UTC time>/``; old temporary files are
    removed; a file with bad or duplicate rows is rewritten atomically without them (the first of duplicates is
    kept) and its original moves into quarantine. Files of a newer schema are left alone. Without `fix`, nothing
    in the store changes (not even a lock file appears).
    """
    results = ResultStore(store)
    results.files()  # a store path that is a file: StoreError
    if not results.path.exists():
        return StoreReport(results.path, 0, 0)
    if not fix:
        return _check(results, False, time.time() if now is None else now)
    with results.lock():
        return _check(results, True, time.time() if now is None else now)


def _check(store: ResultStore, fix: bool, now: float) -> StoreReport:
    files = store.files()
    found = read_files(files)
    problems = [Problem(UNREADABLE, Path(e.path), e.reason) for e in found.unreadable]
    problems += [Problem(NEWER, Path(e.path), e.reason) for e in found.newer]
    stale = []
    for tmp in sorted(store.path.glob(f"{TMP_PREFIX}*")):
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:  # a live writer renamed it meanwhile
            continue
        if tmp.is_file() and age > TMP_GRACE_S:
            stale.append(tmp)
            problems.append(Problem(TEMP, tmp, f"left by an interrupted write {_age(age)} ago"))
    drop, bad_rows = _bad_rows(found)
    problems += bad_rows
    report = StoreReport(store.path, len(files), len(found.frame), tuple(problems), fixed=fix)
    if not fix or not problems:
        return report
    actions = _fix(store, found, drop, stale)
    return StoreReport(store.path, len(files), len(found.frame), tuple(problems), tuple(actions), fixed=True)


def _bad_rows(found: FilesRead) -> tuple[set[int], list[Problem]]:
    """Positions of the rows to drop (invalid, or a later copy of an earlier row) and their problems."""
    frame, source = found.frame, found.source
    problems, drop = [], set()
    for problem in row_problems(frame):
        position = frame.index.get_loc(problem.index)
        drop.add(position)
        problems.append(Problem(INVALID, source[position], problem.line))
    first: dict[tuple[str, str], int] = {}
    for position, pair in enumerate(zip(frame["run_id"].astype(object).tolist(), run_keys(frame))):
        if position in drop:
            continue
        if pair in first:
            drop.add(position)
            earlier = source[first[pair]]
            where = "earlier in this file" if earlier == source[position] else f"in {earlier.name}"
            label = row_label(frame.iloc[position])
            problems.append(Problem(DUPLICATE, source[position],
                                    f"row {label} of run {pair[0]} is already stored {where}"))
        else:
            first[pair] = position
    return drop, problems


def _fix(store: ResultStore, found: FilesRead, drop: set[int], stale: list[Path]) -> list[Action]:
    quarantine = _Quarantine(store.path)
    actions = []
    for error in found.unreadable:
        actions.append(Action("moved", Path(error.path), quarantine.move(Path(error.path))))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
        actions.append(Action("removed", tmp))
    by_file: dict[Path, list[int]] = {}
    for position, file in enumerate(found.source):
        by_file.setdefault(file, []).append(position)
    for file, positions in by_file.items():
        dropped = [p for p in positions if p in drop]
        if not dropped:
            continue
        kept = [p for p in positions if p not in drop]
        detail = f"{len(dropped)} bad or duplicate row{_s(dropped)} set aside"
        if not kept:
            actions.append(Action("moved", file, quarantine.move(file), detail))
            continue
        target = quarantine.keep_copy(file)  # the original stays whole until the rewrite replaces it atomically
        write_file(found.frame.iloc[kept].reset_index(drop=True), file)
        actions.append(Action("rewrote", file, target, f"{detail}, {len(kept)} kept"))
    fsync_folder(store.path)
    return actions


class _Quarantine:
    """``<store>/quarantine/<UTC time>/``, created on first use."""

    def __init__(self, store: Path) -> None:
        self.store, self._folder = store, None

    def folder(self) -> Path:
        if self._folder is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            folder, n = self.store / QUARANTINE / stamp, 1
            while folder.exists():
                n += 1
                folder = self.store / QUARANTINE / f"{stamp}-{n}"
            folder.mkdir(parents=True)
            self._folder = folder
        return self._folder

    def move(self, file: Path) -> Path:
        target = self.folder() / file.name
        os.replace(file, target)
        fsync_folder(target.parent)
        return target

    def keep_copy(self, file: Path) -> Path:
        target = self.folder() / file.name
        try:
            os.link(file, target)  # same bytes, no copy; the rewrite then replaces the store's name only
        except OSError:
            shutil.copy2(file, target)
        fsync_folder(target.parent)
        return target


def _count(problems: tuple[Problem, ...]) -> str:
    """"3 problems (2 unreadable, 1 temp-file)"."""
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return f"{len(problems)} problem{_s(problems)} ({', '.join(f'{n} {kind}' for kind, n in kinds.items())})"


def _relative(path: Path, store: Path) -> str:
    try:
        return str(path.relative_to(store))
    except ValueError:
        return str(path)


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _s(n: int | tuple | list) -> str:
    return "" if (n if isinstance(n, int) else len(n)) == 1 else "s"
