"""The artifact cache (benchsuite/artifacts.py) and the host timing lock (benchsuite/hostlock.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import torch
from torch import nn

from benchsuite.execution.artifacts import ArtifactCache, content_key, source_digest
from benchsuite.errors import DataError
from benchsuite.execution.hostlock import TimingWindow, timing_lock


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
    assert cache.get("new") is not None
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
    env = {**os.environ, "BENCHSUITE_CACHE": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "benchsuite.cli", "cache", "list"], env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "toy × dynamic-int8 seed 0" in listed.stdout and "stale: made by benchsuite 0.0.0" in listed.stdout
    pruned = subprocess.run([sys.executable, "-m", "benchsuite.cli", "cache", "prune"], env=env,
                            capture_output=True, text=True)
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 entry" in pruned.stdout
    assert not (tmp_path / "compressed" / "k1.pt").exists()
    bad = subprocess.run([sys.executable, "-m", "benchsuite.cli", "cache", "prune", "--max-size", "lots"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "--max-size" in bad.stderr


# ---- the host timing lock ----------------------------------------------------------------------------------
def test_timing_lock_is_exclusive_and_reports_the_wait(tmp_path):
    path = tmp_path / "timing.lock"
    acquired = threading.Event()
    waits = []

    def second() -> None:
        with timing_lock(path) as waited:
            waits.append(waited)
            acquired.set()

    with timing_lock(path):
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.5)  # held here: the second timing phase waits
    assert acquired.wait(10)
    thread.join()
    assert waits[0] > 0.4


def test_timing_lock_is_released_when_its_holder_is_killed(tmp_path):
    path = tmp_path / "timing.lock"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time\nfrom pathlib import Path\nfrom benchsuite.execution.hostlock import timing_lock\n"
                               f"with timing_lock(Path({str(path)!r})):\n"
                               "    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with timing_lock(path) as waited:
        assert waited < 5


def test_timing_window_sees_a_busy_neighbour():
    quiet = TimingWindow()
    with quiet:
        time.sleep(0.5)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = TimingWindow()
        with busy:
            time.sleep(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    cores = os.cpu_count() or 1
    assert busy.background_cpu is not None and quiet.background_cpu is not None
    assert busy.background_cpu >= 0.5 / cores  # one spinning process is one core's worth
    assert 0.0 <= quiet.background_cpu <= 1.0


def test_the_runner_writes_rows_inside_a_busy_section(toy_plugins, toy_cache, one_thread, tmp_path):
    """On a LocalCluster the client writes one cell's row while another cell times on the same machine: the
    write holds the machine shared (hostlock.busy), so it waits for a timing phase instead of running beside it."""
    from benchsuite.execution import hostlock
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.results.store import ResultStore

    seen = []

    class Recording(ResultStore):
        def append(self, rows):
            seen.append(bool(hostlock._busy_fds))
            return super().append(rows)

    grid = build_grid(toy_plugins, ["toy-blobs"], ["baseline", "toy-halve"], ["torch-cpu"])
    rows = run_grid(toy_plugins, grid, RunOptions(quick=True, isolate="none"), Recording(tmp_path / "s"),
                    progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert seen == [True, True] and not hostlock._busy_fds


def _hold_timing_lock(path, seconds: float) -> subprocess.Popen:
    """Another benchsuite run's timing phase: a process that holds the machine for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time\nfrom pathlib import Path\nfrom benchsuite.execution.hostlock import timing_lock\n"
                               f"with timing_lock(Path({str(path)!r})):\n"
                               f"    print('held', flush=True); time.sleep({seconds})"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("limit, held, status, words", [
    (12, 16, "ok", ""),  # queued 16 s behind a neighbour's timing phase, under a 12 s limit: not a timeout
    (2, 14, "timeout", "for the machine, held by another benchsuite run's phase"),
])
def test_a_phase_limit_leaves_out_the_time_queued_for_the_machine(toy_plugins, toy_cache, tmp_path, monkeypatch,
                                                                   limit, held, status, words):
    """A cell worker that waits for the machine (hostlock.py) while another run times is not timed out for the
    wait: the parent stops the phase's clock; only a wait of over WAIT_LIMIT_FACTOR limits counts as hung."""
    from benchsuite.execution.isolation import WAIT_LIMIT_FACTOR
    from benchsuite.execution.limits import Limits
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.planning import build_grid
    from benchsuite.grid.orchestration import run_grid

    assert limit < held and (held < limit * WAIT_LIMIT_FACTOR) == (status == "ok")
    path = tmp_path / "timing.lock"
    monkeypatch.setenv("BENCHSUITE_TIMING_LOCK", str(path))
    holder = _hold_timing_lock(path, held)
    try:
        grid = build_grid(toy_plugins, ["toy-blobs"], ["baseline"], ["torch-cpu"])
        rows = run_grid(toy_plugins, grid, RunOptions(quick=True, limits=Limits(limit)), None, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert rows[-1]["status"] == status, rows[-1]["error"]
    assert words in rows[-1]["error"] and (status == "ok" or "task setup waited" in rows[-1]["error"])
