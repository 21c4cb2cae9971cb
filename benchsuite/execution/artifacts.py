"""The artifact cache: reference models and compressed models, kept by content so that work is never redone.

Reference models live in ``<cache>/reference`` (safetensors with a sha256 sidecar, see sdk/reference.py). A compressed
model lives in ``<cache>/compressed`` under a content key: the task and its version, each method's name, version,
parameters and source file digest, the seed, the fine-tuning budget and track, quick mode, and the benchsuite and
torch versions. A re-run, another backend of the same cell, or a retried job on another worker loads it instead of
compressing again, and its row keeps the cost of the compression that made it (`compression_cached` says so).

A compressed model is any `torch.nn.Module` (pruned shapes, quantized kernels, FX graphs), so it is stored with
`torch.save`, which pickles. Loading a pickle runs code, so the cache only ever loads a file that it wrote itself:
each file carries an HMAC-SHA256 under a per-user secret key (``<cache>/compressed/.key``, mode 0600, refused if
anyone else can read it), checked before `torch.load`. A file that fails the check is never loaded; the model is
compressed again and the entry replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import os
import secrets
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchsuite.errors import DataError

COMPRESSED = "compressed"
REFERENCE = "reference"
KINDS = (COMPRESSED, REFERENCE)
KEY_FILE = ".key"
LOCKS = ".locks"
FORMAT = 1


def source_digest(obj: Any) -> str:
    """sha256 (first 16 hex digits) of the file that defines `obj`'s class: a plugin edited without a version
    bump makes new cache keys. Empty when the source cannot be found."""
    try:
        path = inspect.getsourcefile(obj if inspect.isclass(obj) else type(obj))
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else ""
    except (OSError, TypeError):
        return ""


def content_key(fields: Mapping[str, Any]) -> str:
    """A 32-hex-digit key for `fields` (JSON with sorted keys)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    """One cached artifact."""

    kind: str
    key: str
    files: tuple[Path, ...]
    size_bytes: int
    created: datetime
    last_used: datetime
    description: str
    #: why no run of this benchsuite can use the entry again (another benchsuite or torch version), or ""
    stale: str = ""


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


class ArtifactCache:
    """Compressed models under ``<root>/compressed``; `entries` and `prune` also see ``<root>/reference``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / COMPRESSED

    # ---- the secret key --------------------------------------------------------------------------------
    def _secret(self) -> bytes:
        """The per-user HMAC key, created on first use (0600). Refuses a key that others can read or replace."""
        path = self.folder / KEY_FILE
        fix = f"delete {path} (and the cached models beside it, `benchsuite cache prune --all`) and run again"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".tmp-key-{os.getpid()}-{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic, and never replaces a key another worker made first
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DataError(f"the artifact cache key {path} can be read or written by other users; {fix}")
        data = path.read_bytes()
        if len(data) != 32:
            raise DataError(f"the artifact cache key {path} is damaged ({len(data)} bytes, not 32); {fix}")
        return data

    def _mac(self, path: Path) -> str:
        digest = hmac.new(self._secret(), digestmod=hashlib.sha256)
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.pt", self.folder / f"{key}.json"

    # ---- one entry -------------------------------------------------------------------------------------
    def lock(self, key: str) -> Any:
        """Hold `key` while compressing it, so that a second worker wanting the same model waits and loads it."""
        from benchsuite.sdk.reference import build_lock

        return build_lock(self.folder / LOCKS / key)

    def get(self, key: str) -> tuple[Any, dict[str, Any]] | None:
        """The cached model and the manifest's `info`, or None (absent, or refused: see `warn`)."""
        model_path, manifest_path = self._paths(key)
        if not manifest_path.exists():
            return None
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            expected = manifest["hmac"]
        except (OSError, ValueError, KeyError, TypeError):
            _warn(f"cached model {key}: its manifest is unreadable; compressing again")
            return None
        try:
            actual = self._mac(model_path)
        except OSError:
            return None
        if not hmac.compare_digest(actual, str(expected)):
            _warn(f"cached model {model_path} fails its HMAC check (changed after benchsuite wrote it); not loaded, "
                  "compressing again")
            return None
        import torch

        try:
            # the HMAC proves this process's user wrote the file through `put`: see the module docstring
            model = torch.load(model_path, weights_only=False, map_location="cpu")
        except Exception as exc:  # e.g. a plugin class that moved: compress again
            _warn(f"cached model {key} could not be loaded ({type(exc).__name__}: {exc}); compressing again")
            return None
        now = time.time()
        try:
            os.utime(manifest_path, (now, now))  # last use, for `cache prune --max-size`
        except OSError:
            pass
        return model, dict(manifest.get("info", {}))

    def put(self, key: str, model: Any, info: Mapping[str, Any], fields: Mapping[str, Any],
            description: str) -> str | None:
        """Store `model` under `key`. Returns None, or why it could not be cached (e.g. it cannot be pickled)."""
        import torch

        model_path, manifest_path = self._paths(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        tag = f".tmp-{os.getpid()}-{secrets.token_hex(4)}-"
        tmp_model, tmp_manifest = self.folder / (tag + model_path.name), self.folder / (tag + manifest_path.name)
        try:
            try:
                with open(tmp_model, "wb") as fh:
                    torch.save(model, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            except Exception as exc:
                return f"not cached: the model cannot be saved with torch.save ({type(exc).__name__}: {exc})"[:300]
            manifest = {"format": FORMAT, "hmac": self._mac(tmp_model), "description": description,
                        "created": datetime.now(timezone.utc).isoformat(), "fields": dict(fields),
                        "info": dict(info), "size_bytes": tmp_model.stat().st_size}
            tmp_manifest.write_text(json.dumps(manifest, sort_keys=True, default=str), encoding="utf-8")
            os.replace(tmp_model, model_path)
            os.replace(tmp_manifest, manifest_path)  # readers look for the manifest: it lands last
            return None
        finally:
            for tmp in (tmp_model, tmp_manifest):
                tmp.unlink(missing_ok=True)

    # ---- listing and pruning ---------------------------------------------------------------------------
    def entries(self, kinds: Sequence[str] = KINDS) -> list[Entry]:
        """Every cached artifact of `kinds`, oldest use first."""
        found: list[Entry] = []
        if COMPRESSED in kinds and self.folder.is_dir():
            for manifest_path in self.folder.glob("*.json"):
                found.append(self._compressed_entry(manifest_path))
        reference = self.root / REFERENCE
        if REFERENCE in kinds and reference.is_dir():
            for weights in reference.glob("*.safetensors"):
                sidecar = weights.with_suffix(".json")
                files = tuple(p for p in (weights, sidecar) if p.exists())
                info = weights.stat()
                found.append(Entry(REFERENCE, weights.stem, files, sum(p.stat().st_size for p in files),
                                   _utc(info.st_mtime), _utc(max(info.st_atime, info.st_mtime)),
                                   f"reference model {weights.stem}"))
        return sorted(found, key=lambda e: e.last_used)

    def _compressed_entry(self, manifest_path: Path) -> Entry:
        from benchsuite.measure.hardware import benchsuite_version

        key = manifest_path.stem
        model_path = manifest_path.with_suffix(".pt")
        files = tuple(p for p in (model_path, manifest_path) if p.exists())
        info = manifest_path.stat()
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            fields = manifest.get("fields", {})
            description = str(manifest.get("description", ""))
            created = datetime.fromisoformat(manifest["created"])
            stale = ""
            import torch

            if fields.get("benchsuite_version") != benchsuite_version():
                stale = f"made by benchsuite {fields.get('benchsuite_version')}"
            elif fields.get("torch_version") != torch.__version__:
                stale = f"made with torch {fields.get('torch_version')}"
            elif not model_path.exists():
                stale = "its model file is missing"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            description, created, stale = "(unreadable manifest)", _utc(info.st_mtime), "its manifest is unreadable"
        return Entry(COMPRESSED, key, files, sum(p.stat().st_size for p in files), created, _utc(info.st_mtime),
                     description, stale)

    def prune(self, *, kinds: Sequence[str] = (COMPRESSED,), everything: bool = False,
              older_than_days: float | None = None, max_size_bytes: int | None = None,
              dry_run: bool = False) -> list[Entry]:
        """Remove entries; returns those removed (or, with `dry_run`, those that would be).

        Always removes stale entries and leftover temporary files; `older_than_days` removes entries unused for
        that long; `max_size_bytes` then removes the least recently used until the rest fit; `everything`
        removes all of `kinds`.
        """
        entries = self.entries(kinds)
        now = datetime.now(timezone.utc)
        doomed = [e for e in entries if everything or e.stale
                  or (older_than_days is not None and (now - e.last_used).total_seconds() > older_than_days * 86400)]
        if max_size_bytes is not None:
            kept = [e for e in entries if e not in doomed]
            total = sum(e.size_bytes for e in kept)
            for entry in kept:  # least recently used first
                if total <= max_size_bytes:
                    break
                doomed.append(entry)
                total -= entry.size_bytes
        if not dry_run:
            for entry in doomed:
                for path in entry.files:
                    path.unlink(missing_ok=True)
            for folder in (self.folder, self.root / REFERENCE):
                if folder.is_dir():
                    for tmp in folder.glob(".tmp-*"):
                        if time.time() - tmp.stat().st_mtime > 3600:  # not a write in progress
                            tmp.unlink(missing_ok=True)
        return doomed


def _warn(message: str) -> None:
    print(f"benchsuite: warning: {message}", file=sys.stderr)
