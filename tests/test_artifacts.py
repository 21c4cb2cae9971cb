"""The artifact cache (benchsuite/execution/artifacts.py)."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import torch
from torch import nn

from benchsuite.errors import DataError
from benchsuite.execution.artifacts import ArtifactCache, content_key, source_digest

from conftest import cli, one_line_error


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8).eval()


FIELDS = {"task": "toy", "benchsuite_version": "x", "torch_version": torch.__version__}


def _fields() -> dict:
    from benchsuite.measure.hardware import benchsuite_version

    return {**FIELDS, "benchsuite_version": benchsuite_version()}


def test_put_then_get_returns_the_same_function_and_the_cost(tmp_path):
    cache = ArtifactCache(tmp_path)
    model = _model()
    assert cache.get("k1") is None
    assert cache.put("k1", model, {"compress_seconds": 1.5}, _fields(), "toy × dynamic-int8") is None
    loaded, info = cache.get("k1")
    x = torch.randn(3, 8)
    assert torch.equal(loaded(x), model(x))  # quantized packed weights survive
    assert info == {"compress_seconds": 1.5}
    key_file = tmp_path / "compressed" / ".key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_a_changed_model_file_is_never_loaded(tmp_path, capsys):
    cache = ArtifactCache(tmp_path)
    cache.put("k1", _model(), {}, _fields(), "toy")
    path = tmp_path / "compressed" / "k1.pt"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cache.get("k1") is None
    assert "fails its HMAC check" in capsys.readouterr().err
    # a file written by someone else (a valid pickle, but not under this user's key) is refused the same way
    torch.save(_model(), path)
    assert cache.get("k1") is None


def test_a_key_that_others_can_read_is_refused(tmp_path):
    cache = ArtifactCache(tmp_path)
    cache.put("k1", _model(), {}, _fields(), "toy")
    (tmp_path / "compressed" / ".key").chmod(0o644)
    with pytest.raises(DataError, match="can be read or written by other users"):
        cache.get("k1")


def test_a_model_that_cannot_be_saved_is_reported_not_cached(tmp_path):
    class Unsaveable(nn.Module):
        def __init__(self):
            super().__init__()
            self.handle = threading.Lock()  # cannot be pickled

    cache = ArtifactCache(tmp_path)
    reason = cache.put("k1", Unsaveable(), {}, _fields(), "toy")
    assert reason.startswith("not cached: the model cannot be saved")
    assert cache.get("k1") is None
    assert not list((tmp_path / "compressed").glob(".tmp-*"))


def test_content_key_depends_on_every_field():
    base = content_key(_fields())
    assert content_key(dict(reversed(list(_fields().items())))) == base
    assert content_key({**_fields(), "seed": 1}) != content_key({**_fields(), "seed": 2})
    assert len(base) == 32
    assert len(source_digest(ArtifactCache)) == 16


def test_entries_and_prune(tmp_path):
    cache = ArtifactCache(tmp_path)
    for key in ("old", "new", "stale"):
        fields = _fields() if key != "stale" else {**_fields(), "benchsuite_version": "0.0.0"}
        cache.put(key, _model(), {}, fields, f"toy {key}")
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "toy-v1.safetensors").write_bytes(b"x" * 100)
    (reference / "toy-v1.json").write_text("{}")
    week_ago = time.time() - 7 * 86400
    os.utime(tmp_path / "compressed" / "old.json", (week_ago, week_ago))

    entries = {e.key: e for e in cache.entries()}
    assert set(entries) == {"old", "new", "stale", "toy-v1"}
    assert entries["stale"].stale == "made by benchsuite 0.0.0"
    assert entries["toy-v1"].kind == "reference" and entries["toy-v1"].size_bytes == 102
    assert entries["old"].last_used < datetime.now(timezone.utc) - timedelta(days=6)

    assert [e.key for e in cache.prune(dry_run=True)] == ["stale"]
    assert (tmp_path / "compressed" / "stale.pt").exists()  # dry run
    assert sorted(e.key for e in cache.prune(older_than_days=3)) == ["old", "stale"]
    assert not (tmp_path / "compressed" / "old.pt").exists()
    assert cache.get("new")[1] == {}  # kept, and still loads
    assert [e.key for e in cache.prune(max_size_bytes=0)] == ["new"]
    assert [e.key for e in cache.entries()] == ["toy-v1"]  # references are kept unless asked
    assert [e.key for e in cache.prune(kinds=("reference",), everything=True)] == ["toy-v1"]
    assert not reference.joinpath("toy-v1.safetensors").exists()


def test_max_size_evicts_least_recently_used_first(tmp_path):
    cache = ArtifactCache(tmp_path)
    for key in ("a", "b", "c"):
        cache.put(key, _model(), {}, _fields(), key)
    now = time.time()
    for age, key in ((300, "a"), (200, "b"), (100, "c")):
        os.utime(tmp_path / "compressed" / f"{key}.json", (now - age, now - age))
    cache.get("a")  # a use makes "a" the most recent
    size = cache.entries()[0].size_bytes
    assert [e.key for e in cache.prune(max_size_bytes=size * 2)] == ["b"]


def test_cache_cli_lists_and_prunes(tmp_path):
    cache = ArtifactCache(tmp_path)
    cache.put("k1", _model(), {}, {**_fields(), "benchsuite_version": "0.0.0"}, "toy × dynamic-int8 seed 0")
    env = {"BENCHSUITE_CACHE": str(tmp_path)}
    listed = cli("cache", "list", env=env, check=0)
    assert "toy × dynamic-int8 seed 0" in listed.stdout and "stale: made by benchsuite 0.0.0" in listed.stdout
    pruned = cli("cache", "prune", env=env, check=0)
    assert "removed 1 entry" in pruned.stdout
    assert not (tmp_path / "compressed" / "k1.pt").exists()
    assert "--max-size" in one_line_error(cli("cache", "prune", "--max-size", "lots", env=env))
