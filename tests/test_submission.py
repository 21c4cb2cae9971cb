"""`benchsuite submit` writes a bundle; `benchsuite store import` merges it, and refuses tampered copies of it with
one line, exit 2 and the target store byte-identical. One real submission (toy task, toy method) per module."""

import hashlib
import json
import shutil

import pytest

from conftest import GOOD, NO_SLOW_BACKENDS as ENV, SLOW_BACKENDS, cli, make_row, snapshot, stored


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("submit")
    proc = cli("submit", "toy-halve", "--quick", "--no-progress", "--task", "toy-blobs", "--plugins-dir", str(GOOD),
               "--keep-artifacts", "--time-limit", "300", "--output", str(root / "bundle"),
               env={**ENV, "BENCHSUITE_CACHE": str(root / "cache")})
    return proc, root / "bundle"


@pytest.fixture
def bundle(submitted, tmp_path):
    """A private copy of the module's bundle, to tamper with."""
    copy = tmp_path / "bundle"
    shutil.copytree(submitted[1], copy)
    return copy


@pytest.fixture
def target(tmp_path):
    """A store that already holds a row; a refused import must leave every byte of it as it was."""
    return stored(tmp_path / "store", make_row(run_id="earlier"))


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def write_manifest(folder, data):
    (folder / "manifest.json").write_text(json.dumps(data))


def rehash(folder):
    """What a careful forger does after editing results.parquet: update its hash and size in the manifest."""
    data = manifest(folder)
    path = folder / "results.parquet"
    data["results"].update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size_bytes=path.stat().st_size)
    write_manifest(folder, data)


def edit_rows(folder, change, update_manifest=False):
    from benchsuite.results.files import read_file, write_file

    path = folder / "results.parquet"
    frame = read_file(path)
    change(frame)
    path.unlink()
    write_file(frame, path)
    if update_manifest:
        rehash(folder)


def method_rows(frame):
    return frame["method"] == "toy-halve"


def lower_score(frame):
    frame.loc[method_rows(frame), "score"] -= 0.25


def edit_manifest(change):
    def tamper(folder):
        data = manifest(folder)
        change(data)
        write_manifest(folder, data)
    return tamper


def drop_one_artifact(data):
    ok_sha = sorted(data["artifacts"])[0]
    del data["artifacts"][ok_sha]


def set_column(column, value):
    def change(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[method_rows(frame), column] = value
    return change


def scale_column(column, factor):
    def change(frame):
        frame.loc[method_rows(frame), column] *= factor
    return change


def halve_size(frame):
    frame.loc[method_rows(frame), "model_size_bytes"] //= 2


def first_artifact(folder):
    return sorted((folder / "artifacts").glob("*.pt"))[0]


#: tampering -> words of the one-line refusal
TAMPERINGS = {
    "score edited, manifest not updated": (lambda b: edit_rows(b, lower_score), "does not match its manifest"),
    "score edited and hash updated": (lambda b: edit_rows(b, lower_score, True),
                                      "score_delta is"),
    "manifest deleted": (lambda b: (b / "manifest.json").unlink(), "has no manifest.json"),
    "manifest not JSON": (lambda b: (b / "manifest.json").write_text((b / "manifest.json").read_text()[:-40]),
                          "is not valid JSON"),
    "manifest lacks a key": (edit_manifest(lambda d: d.pop("environment")), "lacks environment"),
    "bundle_version 2": (edit_manifest(lambda d: d.update(bundle_version=2)), "has bundle_version 2; this "
                         "benchsuite reads bundle_version 1"),
    "artifact hash removed": (edit_manifest(drop_one_artifact), "is not among the manifest.json artifacts"),
    "plugin version changed": (edit_manifest(lambda d: d["plugin"].update(version="2.0")),
                               "method_dist_version is 'sha256:"),
    "results truncated": (lambda b: (b / "results.parquet").write_bytes((b / "results.parquet").read_bytes()[:5000]),
                          "does not match its manifest"),
    "results deleted": (lambda b: (b / "results.parquet").unlink(), "has no results.parquet"),
    "status not a status": (lambda b: edit_rows(b, set_column("status", "great"), True),
                            "status is 'great'; it must be one of"),
    "integrity without artifact": (lambda b: edit_rows(b, set_column("integrity", "passed: outputs, budget"), True),
                                   "must have passed the artifact check"),
    "artifact file changed": (lambda b: first_artifact(b).write_bytes(first_artifact(b).read_bytes() + b"x"),
                              "it was changed after `benchsuite submit` wrote it"),
    "p50 not the median of the samples": (lambda b: edit_rows(b, scale_column("latency_p50_ms", 0.5), True),
                                          "latency_p50_ms is"),
    "speedup inflated": (lambda b: edit_rows(b, scale_column("realized_speedup", 2.0), True),
                         "realized_speedup is"),
    "size shrunk": (lambda b: edit_rows(b, halve_size, True), "size_ratio is"),
    "sparsity claimed": (lambda b: edit_rows(b, set_column("sparsity", 0.9), True), "sparsity is 0.9"),
    "baseline score edited in the method row": (
        lambda b: edit_rows(b, scale_column("baseline_score", 0.5), True), "baseline_score is 0.5"),
    "row from another method": (lambda b: edit_rows(b, set_column("method", "toy-explodes"), True),
                                "is neither the bundle's method"),
}


def test_submit_writes_a_bundle(submitted):
    proc, folder = submitted
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = proc.stderr.strip().splitlines()[-1]
    assert summary.startswith(f"benchsuite: bundle {folder} (") and "2 ok, 0 failed" in summary
    assert sorted(p.name for p in folder.iterdir()) == ["artifacts", "manifest.json", "results.parquet"]
    data = manifest(folder)
    assert data["bundle_version"] == 1 and data["method"]["name"] == "toy-halve"
    assert data["method"]["standard_configs"] == [{}] and data["run"]["tasks"] == ["toy-blobs"]
    plugin_file = GOOD / "toy_methods.py"
    digest = hashlib.sha256(plugin_file.read_bytes()).hexdigest()
    assert data["plugin"] == {"name": "toy_methods", "source": "plugins dir", "dist": str(plugin_file),
                              "version": f"sha256:{digest[:12]}", "files": {"toy_methods.py": digest}}
    env = data["environment"]
    assert env["torch"] and env["onnxruntime"] and env["distributions"]["benchsuite"] == data["benchsuite_version"]
    assert env["machine"]["hardware_fingerprint"]
    results = folder / "results.parquet"
    assert data["results"] == {"file": "results.parquet", "size_bytes": results.stat().st_size,
                               "sha256": hashlib.sha256(results.read_bytes()).hexdigest()}
    assert data["rows"] == 2 and data["status_counts"]["ok"] == 2

    from benchsuite.results.files import read_file

    frame = read_file(results)
    assert sorted(frame["method"]) == ["baseline", "toy-halve"]
    assert (frame["integrity"] == "passed: outputs, budget, artifact").all()
    assert set(frame["artifact_sha256"]) == set(data["artifacts"])
    for sha, entry in data["artifacts"].items():
        path = folder / "artifacts" / f"{sha}.pt"
        assert entry == {"size_bytes": path.stat().st_size, "included": True}
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"bundle size: {size} bytes")


def test_artifacts_are_hashed_then_deleted_unless_kept(tmp_path):
    from benchsuite.submissions.bundle import _artifacts

    (tmp_path / "a.pt").write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    assert _artifacts(tmp_path, keep=False) == {sha: {"size_bytes": 7, "included": False}}
    assert not tmp_path.exists()


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_a_tampered_bundle_is_refused_and_the_store_is_untouched(name, bundle, target, capsys):
    from benchsuite.cli import main

    tamper, words = TAMPERINGS[name]
    tamper(bundle)
    before = snapshot(target)
    code = main(["store", "import", str(bundle), "--store", str(target)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("benchsuite: error: ") and words in err, err
    assert snapshot(target) == before


@pytest.mark.parametrize("where", ["missing", "file"])
def test_a_bundle_that_is_not_a_folder_is_refused(where, tmp_path, target, capsys):
    from benchsuite.cli import main

    path = tmp_path / "nothing"
    if where == "file":
        path.write_text("not a bundle")
    before = snapshot(target)
    code = main(["store", "import", str(path), "--store", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert ("does not exist" if where == "missing" else "is not a folder") in err
    assert snapshot(target) == before


def test_a_refused_import_creates_no_store(bundle, tmp_path, capsys):
    from benchsuite.cli import main

    (bundle / "manifest.json").unlink()
    assert main(["store", "import", str(bundle), "--store", str(tmp_path / "new-store")]) == 2
    assert not (tmp_path / "new-store").exists()


def test_import_merges_once_and_the_rows_are_readable(submitted, target, tmp_path):
    folder = submitted[1]
    first = cli("store", "import", str(folder), "--store", str(target), check=0)
    assert first.stderr.strip() == f"benchsuite: imported 2 rows from {folder} into {target}"
    proc = cli("results", "--store", str(target), "--format", "json", check=0)
    rows = {r["method"]: r for r in json.loads(proc.stdout)}
    assert rows["toy-halve"]["method_plugin"] == "toy_methods" and rows["toy-halve"]["status"] == "ok"
    assert rows["toy-halve"]["integrity"] == "passed: outputs, budget, artifact"

    from benchsuite.results.store import ResultStore
    from benchsuite_leaderboard import data
    from benchsuite.discovery.loader import PluginLists

    shown, note = data.visible(data.prepare(ResultStore(target).read(exclude=data.UNUSED_COLUMNS)), PluginLists())
    assert sorted(shown["method"]) == ["baseline", "baseline", "toy-halve"] and note == ""

    before = snapshot(target)
    from benchsuite.submissions.importing import import_bundle

    again = import_bundle(folder, target)
    assert (again.added, again.skipped) == (0, 2)
    assert "2 rows were already there (same run_id and run_key), not added again" in again.summary()
    assert snapshot(target) == before


@pytest.mark.parametrize("method, words", [
    ("dynamic-int8", "method dynamic-int8 ships with benchsuite (plugin builtin."),
    ("baseline", "the baseline is what every submission is measured against"),
    ("toy-halv", "Unknown method 'toy-halv'. Did you mean 'toy-halve'"),
])
def test_submit_refuses_builtin_baseline_and_unknown_methods(method, words, tmp_path, monkeypatch, capsys):
    from benchsuite.cli import main

    monkeypatch.setenv("BENCHSUITE_PLUGINS_BLOCK", SLOW_BACKENDS)
    code = main(["submit", method, "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--output",
                 str(tmp_path / "bundle")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "bundle").exists()


def test_submit_refuses_a_folder_that_is_not_empty(tmp_path, monkeypatch, capsys):
    from benchsuite.cli import main

    monkeypatch.setenv("BENCHSUITE_PLUGINS_BLOCK", SLOW_BACKENDS)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "mine.txt").write_text("keep")
    code = main(["submit", "toy-halve", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--output",
                 str(tmp_path / "bundle")])
    assert code == 2 and "is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "bundle").iterdir()] == ["mine.txt"]
