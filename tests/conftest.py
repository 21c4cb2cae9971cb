import os
import re
from datetime import datetime, timezone
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
GOOD = HERE / "plugins" / "good"
BROKEN = HERE / "plugins" / "broken"
DUPLICATE = HERE / "plugins" / "duplicate"
REPO = HERE.parent


@pytest.fixture(autouse=True)
def _no_plugin_env(monkeypatch):
    for key in ("BENCHSUITE_PLUGINS_ALLOW", "BENCHSUITE_PLUGINS_BLOCK", "BENCHSUITE_PLUGINS_DIR", "BENCHSUITE_STORE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def toy_cache(tmp_path, monkeypatch):
    """A private cache for toy reference models (real tasks keep using the machine's cache)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("BENCHSUITE_CACHE", str(path))
    return path


#: toy-model runner tests measure on torch-cpu only: compiling and exporting every toy cell would add minutes;
#: the compiling backends have their own tests (test_backends.py)
SLOW_BACKENDS = "builtin.backends.torch-compile,builtin.backends.onnxruntime"


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine waiting for them made a test file 40x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def toy_plugins():
    from benchsuite.discovery.loader import load_plugins

    return load_plugins(GOOD, warn=lambda m: None, environ={"BENCHSUITE_PLUGINS_BLOCK": SLOW_BACKENDS})


@pytest.fixture
def all_plugins():
    from benchsuite.discovery.loader import load_plugins

    return load_plugins(GOOD, warn=lambda m: None, environ={})


def cli(*args, env=None, check=None):
    """Run the installed `benchsuite` command in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "benchsuite.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=1800)
    if check is not None:
        assert proc.returncode == check, proc.stderr
    return proc


#: set in the fresh process that `in_fresh_process` starts: the node id of the test it runs there
FRESH = "BENCHSUITE_TEST_FRESH"


def in_fresh_process(request) -> bool:
    """Runs this test again in a new Python process and returns True (the caller then returns, its work done
    there), unless this already is that process (False: run the body). For tests that start a Dask LocalCluster
    in-process: in CI, the LocalCluster started inside a long-lived pytest worker failed twice with "Nanny failed
    to start worker process", while the same clusters started by `benchsuite run` in a fresh process passed."""
    nodeid = request.node.nodeid
    if os.environ.get(FRESH) == nodeid:
        return False
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", nodeid],
                          cwd=REPO, env={**os.environ, FRESH: nodeid},
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"{nodeid} failed in a fresh process:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert re.search(r"^1 passed", proc.stdout, re.M), proc.stdout[-3000:]  # it ran, and was not skipped or deselected
    return True


def make_row(**overrides):
    """A valid results row with plausible values; override any column."""
    from benchsuite.results.schema import COLUMNS

    base = {c: None for c in COLUMNS if c != "schema_version"}
    base.update(run_id="r1", created_at=datetime.now(timezone.utc), status="ok", error="", quick=False,
                task="t", task_version="1", method="baseline", params="{}", backend="torch-cpu", score=0.9,
                latency_p50_ms=1.5, latency_b1_p50_ms=0.5, model_size_bytes=1000, params_total=10, params_nonzero=5,
                threads=2, higher_is_better=True)
    base.update(overrides)
    if "config" not in overrides:
        import json

        from benchsuite.sdk.params import format_spec

        base["config"] = format_spec(base["method"], json.loads(base["params"]))
    base.setdefault("track", "closed")
    return base


def tiny_bert(layers=2, heads=2, hidden=32, ffn=64, vocab=50, max_positions=64, **config):
    """A tiny randomly initialised MiniLMClassifier (BERT encoder + mean pooling + head), seeded, in eval mode."""
    import torch
    from transformers import BertConfig, BertModel

    from benchsuite_plugins.tasks.sentiment_minilm import MiniLMClassifier

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=ffn, max_position_embeddings=max_positions, **config)
    return MiniLMClassifier(BertModel(cfg, add_pooling_layer=False), num_classes=2).eval()


def random_images(batch_size, seed, size=28, classes=10):
    """An endless stream of random single-channel image batches with random labels, seeded."""
    import torch

    g = torch.Generator().manual_seed(seed)
    while True:
        yield (torch.randn(batch_size, 1, size, size, generator=g),), torch.randint(0, classes, (batch_size,), generator=g)


def pytest_collection_modifyitems(items):
    """The end-to-end tests on the real models first: under `.ci/run`'s two pytest workers the longest file then
    starts at once and the short files fill the other worker around it (one stable sort, same on every worker)."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)
