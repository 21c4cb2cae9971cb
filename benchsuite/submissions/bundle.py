"""`benchsuite submit`: run the standard suite for one new method, every score re-evaluated from the model's saved
weights, and write a bundle (rows, artifacts' hashes, the plugin's files' hashes, the environment) that
`benchsuite store import` (importing.py) checks before merging it into a store."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchsuite.errors import UsageError
from benchsuite.sdk.reference import sha256_file

if TYPE_CHECKING:  # both import torch; `store import` needs only this module's constants and hashing
    from benchsuite.discovery.loader import PluginInfo, Plugins
    from benchsuite.execution.limits import Limits

BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
RESULTS = "results.parquet"
ARTIFACTS = "artifacts"
#: the bundle's working store while the suite runs; its rows become results.parquet, then it is removed
WORK_STORE = ".store"
#: the keys every manifest of BUNDLE_VERSION has
MANIFEST_KEYS = ("bundle_version", "created_at", "benchsuite_version", "method", "run", "plugin", "environment",
                 "results", "artifacts", "rows", "status_counts")
#: the statuses a submission fails on (the bundle is still written)
BAD_STATUSES = ("failed", "timeout", "crashed")


@dataclass(frozen=True)
class Submission:
    """A written bundle: its folder, its rows and its manifest."""

    folder: Path
    frame: pd.DataFrame
    manifest: Mapping[str, Any]

    @property
    def bad(self) -> int:
        """Runs that failed, timed out or crashed."""
        return sum(self.manifest["status_counts"].get(s, 0) for s in BAD_STATUSES)

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.manifest["status_counts"].items())
        kept = sum(a["included"] for a in self.manifest["artifacts"].values())
        line = (f"bundle {self.folder} ({self.size_bytes / 1e6:.2f} MB): {self.manifest['rows']} runs of "
                f"{self.manifest['method']['name']} and the baseline: {counts}; "
                f"{len(self.manifest['artifacts'])} artifacts hashed, {kept} included")
        if self.bad:
            line += (f"; {self.bad} runs failed, timed out or crashed (reasons in the `error` column, tracebacks "
                     f"in {self.folder / 'tracebacks'}): fix the method and submit again")
        return line


def submit(plugins: Plugins, method: str, *, tasks: Sequence[str] = (), output: str | Path | None = None,
           quick: bool = False, keep_artifacts: bool = False, limits: Limits | None = None,
           allow_builtin: bool = False, progress: bool = True) -> Submission:
    """Run `method`'s standard configurations and the baseline on `tasks` (default: the standard tasks) and every
    available backend, each cell in a worker, closed track, every score re-evaluated from the saved artifact;
    write the bundle folder. Raises UsageError before any compute for a bad method, task or folder."""
    from benchsuite.execution.limits import Limits
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import BASELINE, build_grid
    from benchsuite.results.files import write_file
    from benchsuite.results.frames import to_frame
    from benchsuite.results.store import ResultStore
    from benchsuite.sdk.params import format_spec

    entry = plugins.methods.entry(method)
    info = plugins.infos[entry.plugin]
    if method == BASELINE:
        raise UsageError("the baseline is what every submission is measured against, not a method to submit")
    if info.source == "builtin" and not allow_builtin:
        raise UsageError(f"method {method} ships with benchsuite (plugin {info.name}); submissions are for new "
                         "methods from a plugin (--allow-builtin submits it anyway, for testing)")
    configs = tuple(dict(c) for c in entry.obj.standard_configs) or ({},)
    grid = build_grid(plugins, tasks, [format_spec(method, c) for c in configs], ())
    folder = _new_folder(output, method)
    options = RunOptions(quick=quick, isolate="cell", verify_artifact=True, track="closed",
                         artifact_dir=str((folder / ARTIFACTS).resolve()), limits=limits or Limits())
    store = ResultStore(folder / WORK_STORE)
    rows = run_grid(plugins, grid, options, store, progress=progress)
    frame = to_frame(rows)
    write_file(frame, folder / RESULTS)
    if (store.path / "tracebacks").is_dir():  # the rows' traceback_file paths stay valid relative to the bundle
        shutil.move(str(store.path / "tracebacks"), str(folder / "tracebacks"))
    shutil.rmtree(store.path)
    artifacts = _artifacts(folder / ARTIFACTS, keep_artifacts)
    manifest = {
        "bundle_version": BUNDLE_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "benchsuite_version": _version("benchsuite"),
        "method": {"name": method, "version": entry.obj.version, "family": entry.obj.family,
                   "standard_configs": [json.loads(json.dumps(c, default=str)) for c in configs],
                   "specs": [p.spec for p in grid.methods if not p.is_baseline]},
        "run": {"run_id": rows[0]["run_id"] if rows else "", "tasks": list(grid.tasks),
                "backends": [c.spec for c in grid.backends], "quick": quick, "track": options.track,
                "seeds": list(options.seeds), "time_limit_seconds": options.limits.time_limit_seconds,
                "memory_limit_bytes": options.limits.memory_limit_bytes},
        "plugin": plugin_manifest(info),
        "environment": environment(),
        "results": {"file": RESULTS, "sha256": sha256_file(folder / RESULTS),
                    "size_bytes": (folder / RESULTS).stat().st_size},
        "artifacts": artifacts,
        "rows": len(frame),
        "status_counts": {s: int((frame["status"] == s).sum()) for s in ("ok", "failed", "timeout", "crashed",
                                                                          "skipped")},
    }
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return Submission(folder, frame, manifest)


def _new_folder(output: str | Path | None, method: str) -> Path:
    if output is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        output = Path.cwd() / f"submission-{re.sub(r'[^A-Za-z0-9._-]', '_', method)}-{stamp}"
    folder = Path(output).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"--output {folder} is not an empty folder; give a new or empty folder for the bundle")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --output {folder}: {exc.strerror}") from None
    return folder


def _artifacts(folder: Path, keep: bool) -> dict[str, dict[str, Any]]:
    """sha256 -> size and whether the file stays in the bundle; each file is hashed, then deleted unless `keep`."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else ():
        found[sha256_file(path)] = {"size_bytes": path.stat().st_size, "included": keep}
        if not keep:
            path.unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return found


def plugin_manifest(info: PluginInfo) -> dict[str, Any]:
    """The plugin as the rows name it, and the sha256 of every file it ships (None: listed but not on disk)."""
    files: dict[str, str | None] = {}
    entry_point: dict[str, Any] | None = None
    if info.source == "plugins dir":
        path = Path(info.dist)
        files[path.name] = sha256_file(path)
    else:
        try:
            dist = importlib.metadata.distribution(info.dist)
        except importlib.metadata.PackageNotFoundError:
            dist = None
        for file in (dist.files or ()) if dist is not None else ():
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            located = Path(str(file.locate()))
            files[file.as_posix()] = sha256_file(located) if located.is_file() else None
        entry_point = _entry_point(info)
    return {"name": info.name, "source": info.source, "dist": info.dist, "version": info.version,
            "files": files, **({"entry_point": entry_point} if entry_point else {})}


def _entry_point(info: PluginInfo) -> dict[str, Any] | None:
    """The entry point's module file and its hash: an editable install's `dist.files` lists no source files."""
    from benchsuite.discovery.loader import PROJECT

    for ep in importlib.metadata.entry_points(group=PROJECT):
        if ep.name == info.name and ep.dist is not None and ep.dist.name == info.dist:
            try:
                spec = importlib.util.find_spec(ep.module)
            except (ImportError, ValueError):
                spec = None
            origin = Path(spec.origin) if spec is not None and spec.origin else None
            sha = sha256_file(origin) if origin is not None and origin.is_file() else None
            return {"value": ep.value, "module_file": origin.name if origin else None, "sha256": sha}
    return None


def environment() -> dict[str, Any]:
    """Library versions, the platform, the machine columns and every installed distribution's version."""
    from benchsuite.measure.hardware import machine_info

    installed = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            installed.setdefault(name, dist.version)
    return {"python": platform.python_version(), "torch": _version("torch"),
            "transformers": _version("transformers"), "onnxruntime": _version("onnxruntime"),
            "platform": platform.platform(), "machine": machine_info(),
            "distributions": dict(sorted(installed.items(), key=lambda kv: kv[0].lower()))}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""
