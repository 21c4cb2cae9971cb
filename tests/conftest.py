import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from functools import partial
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
#: the environment a `benchsuite` subprocess gets to leave the compiling backends out (see SLOW_BACKENDS)
NO_SLOW_BACKENDS = {"BENCHSUITE_PLUGINS_BLOCK": SLOW_BACKENDS}


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


def one_line_error(proc, code=2, prefix="benchsuite: error:"):
    """`proc` exited with `code` and said why in one line of stderr that starts with `prefix`, with no
    traceback; returns that line."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), proc.stderr
    return lines[0]


def snapshot(folder):
    """Every path under `folder` (hidden ones too) with its bytes, None for a folder: equal snapshots before and
    after show that nothing was written, changed, added or removed."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def plugins_folder(folder, *sources):
    """`folder` (created) holding a copy of each plugin file in `sources`: a --plugins-dir of exactly those."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy(source, folder / Path(source).name)
    return folder


def stored(path, *rows):
    """A results store at `path` holding `rows` (default: one `make_row()`); returns `path`."""
    from benchsuite.results.store import ResultStore

    ResultStore(path).append(list(rows) or [make_row()])
    return Path(path)


def alive(pid):
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class ScriptedWorkers:
    """Cell workers replaced by tests/fixtures/scripted_worker.py, which plays a script of worker events and
    actions (exit, die by a signal, hang, hold memory) instead of running the cell: see that file."""

    SCRIPT = HERE / "fixtures" / "scripted_worker.py"

    def __init__(self, monkeypatch):
        self._monkeypatch = monkeypatch
        #: the backend names of each worker's job, in the order the workers were started
        self.launches = []
        real_popen = subprocess.Popen

        def popen(args, *more, **kwargs):
            if isinstance(args, (list, tuple)) and list(args[1:3]) == ["-m", "benchsuite.execution.worker"]:
                import json

                job = json.loads(Path(args[3]).read_text())
                self.launches.append([name for name, _ in job["backends"]])
                args = [sys.executable, str(self.SCRIPT), *args[3:]]
            return real_popen(args, *more, **kwargs)

        monkeypatch.setattr(subprocess, "Popen", popen)

    def play(self, scripts):
        """The steps of the workers to come, by the name of their job's first backend."""
        import json

        self._monkeypatch.setenv("BENCHSUITE_TEST_SCRIPT", json.dumps(scripts))


@pytest.fixture
def scripted_worker(monkeypatch):
    return ScriptedWorkers(monkeypatch)


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


def tiny_llama(layers=2, hidden=64, heads=4, kv_heads=2, ffn=128, vocab=320, max_positions=256, **config):
    """A tiny randomly initialised Llama as the language-model tasks hold it (`CausalLM`): grouped-query attention
    (`heads` query heads share `kv_heads` key/value heads), seeded, in eval mode; ``.lm`` is the LlamaForCausalLM."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from benchsuite_plugins.tasks.causal_lm import CausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=max_positions,
                      **config)
    return CausalLM(LlamaForCausalLM(cfg)).eval()


def tiny_tokenizer(texts, vocab=320):
    """A byte-level BPE tokenizer of at most `vocab` tokens (``<|endoftext|>`` is id 0) trained on `texts`, as a
    transformers tokenizer (``save_pretrained`` writes it in the hub's format)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def random_images(batch_size, seed, size=28, classes=10):
    """An endless stream of random single-channel image batches with random labels, seeded."""
    import torch

    g = torch.Generator().manual_seed(seed)
    while True:
        yield (torch.randn(batch_size, 1, size, size, generator=g),), torch.randint(0, classes, (batch_size,), generator=g)


#: 8x8 single-channel images in 3 classes: the training stream of the method tests' tiny CNNs
small_images = partial(random_images, size=8, classes=3)


def pytest_collection_modifyitems(items):
    """The end-to-end tests on the real models first: under `.ci/run`'s two pytest workers the longest file then
    starts at once and the short files fill the other worker around it (one stable sort, same on every worker)."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)
