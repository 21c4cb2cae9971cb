"""`benchsuite store import BUNDLE`: check a submission bundle (bundle.py) and merge its rows into a store.

Every check runs before the store is touched; a refused bundle leaves the store as it was. The hashes detect
corruption and careless edits, not a determined forger (nothing is signed); the consistency checks make a forged
bundle tedious to produce, not impossible.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchsuite.errors import (
    BundleError,
    NewerSchemaError,
    StoreError,
    UnreadableFileError,
)
from benchsuite.results.rows import Baseline, relative_columns
from benchsuite.results.rules import row_label
from benchsuite.sdk.reference import sha256_file
from benchsuite.submissions.bundle import (
    ARTIFACTS,
    BUNDLE_VERSION,
    MANIFEST,
    MANIFEST_KEYS,
    RESULTS,
)

BASELINE = "baseline"
#: relative tolerance of a headline number against the same number recomputed from the row's raw data
TOLERANCE = 1e-9
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TRACEBACK = re.compile(r"tracebacks/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+\.txt")


@dataclass(frozen=True)
class Bundle:
    """A bundle that passed every check: its folder, manifest and rows (typed, validated)."""

    folder: Path
    manifest: Mapping[str, Any]
    frame: pd.DataFrame


@dataclass(frozen=True)
class ImportReport:
    """What `import_bundle` did."""

    bundle: Path
    store: Path
    added: int
    #: rows the store already held (same run_id and run_key): not added again
    skipped: int
    tracebacks: int

    def summary(self) -> str:
        line = f"imported {self.added} rows from {self.bundle} into {self.store}"
        if self.skipped:
            line += f"; {self.skipped} rows were already there (same run_id and run_key), not added again"
        return line


def check_bundle(path: str | Path) -> Bundle:
    """Every check `store import` makes, in order; raises BundleError (one line) at the first that fails."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise BundleError(f"bundle {folder} does not exist; give the folder `benchsuite submit` wrote")
    if not folder.is_dir():
        raise BundleError(f"bundle {folder} is not a folder; give the folder `benchsuite submit` wrote")
    manifest = _manifest(folder)
    frame = _results(folder, manifest)
    _check_plugin(frame, manifest)
    _check_integrity(folder, frame, manifest)
    _check_consistency(frame)
    return Bundle(folder, manifest, frame)


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"bundle {folder} has no {MANIFEST}; give the folder `benchsuite submit` wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{MANIFEST} of {folder} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{MANIFEST} of {folder} is not valid JSON ({exc.msg} at line {exc.lineno} "
                          f"column {exc.colno})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{MANIFEST} of {folder} is not a JSON object")
    if "bundle_version" not in manifest:
        raise BundleError(f"{MANIFEST} of {folder} lacks bundle_version")
    if manifest["bundle_version"] != BUNDLE_VERSION:
        raise BundleError(f"{MANIFEST} of {folder} has bundle_version {manifest['bundle_version']!r}; this "
                          f"benchsuite reads bundle_version {BUNDLE_VERSION} (a newer bundle needs a newer benchsuite)")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise BundleError(f"{MANIFEST} of {folder} lacks {', '.join(missing)}")
    shapes = {"method.name": str, "plugin.name": str, "plugin.source": str, "plugin.dist": str,
              "plugin.version": str, "plugin.files": dict, "results.sha256": str, "results.size_bytes": int,
              "artifacts": dict, "rows": int, "status_counts": dict, "benchsuite_version": str}
    for dotted, kind in shapes.items():
        value: Any = manifest
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BundleError(f"{MANIFEST} of {folder}: {dotted} is {value!r}; it must be "
                              f"{'text' if kind is str else 'an integer' if kind is int else 'an object'}")
    for sha, entry in manifest["artifacts"].items():
        if not _SHA256.fullmatch(sha) or not isinstance(entry, dict) or not isinstance(entry.get("included"), bool) \
                or not isinstance(entry.get("size_bytes"), int):
            raise BundleError(f"{MANIFEST} of {folder}: artifact {sha[:80]!r} is not a sha256 with size_bytes and "
                              "included")
    return manifest


def _results(folder: Path, manifest: Mapping[str, Any]) -> pd.DataFrame:
    from benchsuite.results.files import read_file
    from benchsuite.results.frames import to_frame

    path = folder / RESULTS
    if not path.is_file():
        raise BundleError(f"bundle {folder} has no {RESULTS}")
    expected = manifest["results"]
    size, sha = path.stat().st_size, sha256_file(path)
    if (sha, size) != (expected["sha256"], expected["size_bytes"]):
        raise BundleError(f"{RESULTS} of {folder} does not match its manifest (sha256 {sha[:12]}…, {size} bytes; "
                          f"the manifest says {str(expected['sha256'])[:12]}…, {expected['size_bytes']} bytes): "
                          "it was changed or damaged after `benchsuite submit` wrote it")
    try:
        frame = read_file(path)
    except (UnreadableFileError, NewerSchemaError) as exc:
        raise BundleError(f"{RESULTS} of {folder}: {exc.reason}") from None
    try:  # the store's own rules (rules.py), as `ResultStore.append` applies them
        frame = to_frame(records(frame))
    except StoreError as exc:
        raise BundleError(f"{RESULTS} of {folder}: {exc}") from None
    counts = {s: int(n) for s, n in frame["status"].value_counts().items()}
    claimed = {s: n for s, n in manifest["status_counts"].items() if n}
    if len(frame) != manifest["rows"] or counts != claimed:
        raise BundleError(f"{RESULTS} of {folder} has {len(frame)} rows ({_counts(counts)}); the manifest says "
                          f"{manifest['rows']} ({_counts(claimed)})")
    return frame


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A typed frame's rows as dicts that `to_frame` and `ResultStore.append` take (missing values as None)."""
    plain = frame.astype(object)
    return plain.where(frame.notna(), None).to_dict("records")


def _check_plugin(frame: pd.DataFrame, manifest: Mapping[str, Any]) -> None:
    """Rows of the method name the manifest's plugin; baseline rows name benchsuite's own; nothing else is there."""
    plugin, method = manifest["plugin"], manifest["method"]["name"]
    for _, row in frame.iterrows():
        if row["method"] == method:
            expected = {"method_plugin": plugin["name"], "method_dist": plugin["dist"],
                        "method_dist_version": plugin["version"]}
        elif row["method"] == BASELINE:
            expected = {"method_dist": "benchsuite", "method_dist_version": manifest["benchsuite_version"]}
        else:
            raise BundleError(f"row {row_label(row)}: method {row['method']!r} is neither the bundle's method "
                              f"{method!r} nor the baseline")
        for column, value in expected.items():
            if _missing(row[column]) or row[column] != value:
                raise BundleError(f"row {row_label(row)}: {column} is {_shown(row[column])}; the manifest says "
                                  f"{value!r}")
    if plugin["source"] == "plugins dir":  # its version is the file's hash: the listed hash must agree
        digest = plugin["files"].get(Path(plugin["dist"]).name)
        if not isinstance(digest, str) or plugin["version"] != f"sha256:{digest[:12]}":
            raise BundleError(f"{MANIFEST}: plugin version {plugin['version']!r} is not the hash of the plugin "
                              "file it lists")


def _check_integrity(folder: Path, frame: pd.DataFrame, manifest: Mapping[str, Any]) -> None:
    """Ok rows passed the artifact check and name a listed artifact; included artifacts hash to their names."""
    artifacts = manifest["artifacts"]
    for _, row in frame[frame["status"] == "ok"].iterrows():
        integrity = row["integrity"] if isinstance(row["integrity"], str) else ""
        checks = {c.strip() for c in integrity.removeprefix("passed:").split(",")}
        if not integrity.startswith("passed:") or "artifact" not in checks:
            raise BundleError(f"row {row_label(row)}: integrity is {_shown(row['integrity'])}; a submitted ok row "
                              "must have passed the artifact check ('passed: ..., artifact')")
        if row["artifact_sha256"] not in artifacts:
            raise BundleError(f"row {row_label(row)}: artifact_sha256 {str(row['artifact_sha256'])[:12]}… is not "
                              f"among the {MANIFEST} artifacts")
    for sha, entry in artifacts.items():
        if not entry["included"]:
            continue
        path = folder / ARTIFACTS / f"{sha}.pt"
        if not path.is_file():
            raise BundleError(f"artifact {ARTIFACTS}/{sha[:12]}….pt is listed as included but is not in the bundle")
        found = sha256_file(path)
        if found != sha or path.stat().st_size != entry["size_bytes"]:
            raise BundleError(f"artifact {ARTIFACTS}/{sha[:12]}….pt hashes to {found[:12]}… "
                              f"({path.stat().st_size} bytes): it was changed after `benchsuite submit` wrote it")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _shown(value: Any) -> str:
    return "missing" if _missing(value) else "empty" if value == "" else repr(value)


def _agree(stored: Any, expected: Any) -> bool:
    if _missing(stored) or _missing(expected):
        return _missing(stored) and _missing(expected)
    return math.isclose(float(stored), float(expected), rel_tol=TOLERANCE, abs_tol=1e-12)


def _median(samples: Any) -> float | None:
    values = [] if samples is None or (isinstance(samples, float) and math.isnan(samples)) else list(samples)
    return float(np.percentile(np.asarray(values, dtype=np.float64), 50)) if values else None


#: the derived columns (results/rows.py) an import recomputes from the bundle's own baseline row and compares
DERIVED_CHECKED = ("baseline_score", "baseline_latency_p50_ms", "baseline_model_size_bytes", "score_delta",
                   "realized_speedup", "realized_speedup_b1", "size_ratio")


def _check_consistency(frame: pd.DataFrame) -> None:
    """Each ok row's headline numbers against its raw data, and its baseline columns against the bundle's own
    baseline row of the same task and backend."""
    ok = frame[frame["status"] == "ok"]
    baselines: dict[tuple, pd.Series] = {}
    for _, row in ok[ok["method"] == BASELINE].iterrows():
        key = (row["task"], row["task_version"], row["backend"], row["backend_params"])
        if key in baselines:
            raise BundleError(f"row {row_label(row)}: the bundle has two ok baseline rows for this task and backend")
        baselines[key] = row
    for _, row in ok.iterrows():
        base = baselines.get((row["task"], row["task_version"], row["backend"], row["backend_params"]))
        derived = {} if base is None else relative_columns(row, Baseline.from_row(base), int(row["seed"]))
        expected = {
            "latency_p50_ms": _median(row["latency_samples_ms"]),
            "latency_b1_p50_ms": _median(row["latency_b1_samples_ms"]),
            "latency_samples": len(row["latency_samples_ms"]) if row["latency_samples_ms"] is not None else None,
            **{column: derived.get(column) for column in DERIVED_CHECKED},
            "sparsity": None if _missing(row["params_total"]) or not row["params_total"]
            else 1.0 - row["params_nonzero"] / row["params_total"],
        }
        for column, value in expected.items():
            if not _agree(row[column], value):
                shown = "missing" if _missing(value) else f"{float(value):.10g}"
                source = "the bundle's baseline row gives" if column.startswith("baseline_") else \
                    "its raw data give"
                raise BundleError(f"row {row_label(row)}: {column} is {_shown(row[column])}, but {source} {shown}; "
                                  "the row was edited after it was measured")


def import_bundle(path: str | Path, store: str | Path | None = None) -> ImportReport:
    """Check the bundle, then, under the store lock, append the rows the store does not hold yet (same run_id
    and run_key) as one new results file and copy their tracebacks. A refused bundle writes nothing."""
    from benchsuite.results.files import read_files
    from benchsuite.results.keys import RUN_KEY_COLUMNS, run_keys
    from benchsuite.results.store import ResultStore

    bundle = check_bundle(path)
    target = ResultStore(store)
    target.files()  # a store path that is not a folder: refused before the lock creates anything
    keys = list(zip(bundle.frame["run_id"], run_keys(bundle.frame)))
    with target.lock():
        found = read_files(target.files(), ["run_id", *RUN_KEY_COLUMNS])
        found.raise_newer()
        present = set(zip(found.frame["run_id"], run_keys(found.frame)))
        new = []
        for position, key in enumerate(keys):
            if key not in present:
                present.add(key)
                new.append(position)
        added = bundle.frame.iloc[new]
        if len(added):
            target.append(records(added))
        copied = _copy_tracebacks(bundle.folder, target.path, added)
    return ImportReport(bundle.folder, target.path, len(added), len(keys) - len(added), copied)


def _copy_tracebacks(bundle: Path, store: Path, rows: pd.DataFrame) -> int:
    """The added rows' traceback files, to the same relative path in the store (never over an existing file)."""
    copied = 0
    for relative in rows["traceback_file"].dropna():
        source, target = bundle / relative, store / relative
        if not _TRACEBACK.fullmatch(relative) or source.is_symlink() or not source.is_file() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied += 1
    return copied
