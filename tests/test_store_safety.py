"""The results store loses nothing and refuses bad data: atomic locked appends, validation before any write,
unreadable files skipped with a warning, newer schemas refused, resume keys, `store check [--fix]`."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchsuite.errors import NewerSchemaError, StoreError
from benchsuite.results.schema import COLUMNS, SCHEMA_VERSION
from benchsuite.results.keys import RUN_KEY_COLUMNS, run_key, run_keys
from benchsuite.results.store import ResultStore
from benchsuite.measure.hardware import benchsuite_version
from benchsuite.results.frames import to_frame
from benchsuite.results.check import TMP_GRACE_S, check_store

from conftest import HERE, cli, make_row as row, one_line_error as one_line, snapshot

V5_ONLY = ["traceback_file", "integrity", "artifact_sha256", "time_limit_seconds", "memory_limit_bytes"]


def write_raw(path, frame, metadata=None):
    """A Parquet file written around the store's checks (what another tool, or an older or newer benchsuite, wrote)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               **{k.encode(): v.encode() for k, v in metadata.items()}})
    pq.write_table(table, path)
    return path


def good_store(path, rows=2):
    store = ResultStore(path)
    for i in range(rows):
        store.append([row(run_id=f"good{i}", task="mnist-cnn")])
    return store


# --- atomic, locked appends ------------------------------------------------------------------------------------

def test_append_writes_metadata_and_fsyncs_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    file = ResultStore(tmp_path).append([row()])
    assert len(synced) == 2  # the file's bytes, then the folder's entry for the rename
    meta = pq.read_schema(file).metadata
    assert meta[b"schema_version"] == str(SCHEMA_VERSION).encode()
    assert meta[b"benchsuite_version"] == benchsuite_version().encode() != b""
    assert (tmp_path / ".lock").exists() and not list(tmp_path.glob(".tmp-*"))


def test_no_partial_file_is_visible_while_writing(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    real_write, seen = pq.write_table, []

    def watched(table, where, **kwargs):
        real_write(table, where, **kwargs)
        seen.append((store.files(), sorted(p.name for p in tmp_path.glob(".tmp-*"))))

    monkeypatch.setattr(pq, "write_table", watched)
    file = store.append([row()])
    assert seen == [([], [f".tmp-{file.name}"])]  # complete bytes, still under the temporary name
    assert store.files() == [file] and len(store.read()) == 1


@pytest.mark.parametrize("error, raised", [(OSError(28, "No space left on device"), StoreError),
                                           (KeyboardInterrupt(), KeyboardInterrupt),
                                           (RuntimeError("bug"), RuntimeError)])
def test_an_exception_mid_write_leaves_no_file(tmp_path, monkeypatch, error, raised):
    store = good_store(tmp_path, rows=1)
    before = snapshot(tmp_path)

    def half_then_fail(table, where, **kwargs):
        where.write(b"PAR1" + b"\0" * 1000)  # part of a file
        raise error

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(raised) as info:
        store.append([row(run_id="second")])
    if raised is StoreError:
        assert "No space left on device" in str(info.value)
    assert snapshot(tmp_path) == before  # no new file, no temporary file
    assert store.read()["run_id"].tolist() == ["good0"]


def test_lock_is_reentrant_and_shuts_out_other_writers(tmp_path):
    store = ResultStore(tmp_path)
    with store.lock():
        store.append([row()])  # the same thread may write under its own lock
        errors = []
        waiter = threading.Thread(target=lambda: _try_lock(ResultStore(tmp_path), errors))
        waiter.start()
        waiter.join()
    assert len(errors) == 1 and "locked by another writer for more than 0.2 s" in errors[0]
    assert f"{tmp_path / '.lock'}" in errors[0]
    with store.lock(timeout=0.2):  # released
        pass


def _try_lock(store, errors):
    try:
        with store.lock(timeout=0.2):
            pass
    except StoreError as exc:
        errors.append(str(exc))


def test_an_append_in_another_process_waits_for_the_lock(tmp_path):
    store = ResultStore(tmp_path)
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from conftest import make_row; "
            f"from benchsuite.results.store import ResultStore; ResultStore({str(tmp_path)!r}).append([make_row()])")
    with store.lock():
        writer = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(3)
        assert writer.poll() is None and store.files() == []  # waiting, nothing written
    assert writer.wait(timeout=60) == 0
    assert len(store.files()) == 1


def test_four_processes_appending_at_once_lose_nothing(tmp_path):
    code = ("import sys; sys.path.insert(0, {here!r}); from conftest import make_row; "
            "from benchsuite.results.store import ResultStore; s = ResultStore({store!r}); "
            "[s.append([make_row(run_id=f'p{p}-{{i}}', seed=i)]) for i in range(25)]")
    writers = [subprocess.Popen([sys.executable, "-c", code.format(here=str(HERE), store=str(tmp_path), p=p)],
                                stderr=subprocess.PIPE, text=True) for p in range(4)]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    frame = ResultStore(tmp_path).read()
    expected = sorted(f"p{p}-{i}" for p in range(4) for i in range(25))
    assert sorted(frame["run_id"]) == expected  # every row, exactly once
    assert len(ResultStore(tmp_path).files()) == 100 and not list(tmp_path.glob(".tmp-*"))
    report = check_store(tmp_path)
    assert report.clean and report.rows == 100


# --- validation before any write -------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    (dict(task="mnist-cnn", config="foo", score=float("nan")),
     "row mnist-cnn × foo × torch-cpu: score is NaN; a measured (ok) row needs a finite score"),
    (dict(latency_p50_ms=None), "row t × baseline × torch-cpu: latency_p50_ms is NaN; a measured (ok) row needs a "
                                "finite latency_p50_ms"),
    (dict(latency_b1_p50_ms=np.nan), "latency_b1_p50_ms is NaN; a measured (ok) row needs a finite latency_b1_p50_ms"),
    (dict(score=float("inf")),
     "row t × baseline × torch-cpu: score is inf; a stored number must be finite (or empty)"),
    (dict(status="failed", score=None, realized_speedup=-np.inf),
     "realized_speedup is -inf; a stored number must be finite (or empty)"),
    (dict(status="weird"), "status is 'weird'; it must be one of ok, failed, skipped, timeout, crashed"),
    (dict(task=""), "row ? × baseline × torch-cpu: task is empty; every row needs a task"),
    (dict(run_id=None), "run_id is missing; every row needs a run_id"),
    (dict(backend=""), "row t × baseline × ?: backend is empty; every row needs a backend"),
    (dict(score="high"), "row t × baseline × torch-cpu: score is 'high'; it must be a number"),
    (dict(score=float("nan"), latency_p50_ms=float("inf")), "(and 1 more problem)"),
])
def test_bad_rows_are_refused_before_anything_is_written(tmp_path, overrides, message):
    store = ResultStore(tmp_path / "store")
    with pytest.raises(StoreError) as info:
        store.append([row(), row(**overrides)])
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "store").exists()  # not even the folder


def test_rows_that_are_not_measured_may_leave_metrics_empty(tmp_path):
    rows = [row(status=s, score=None, latency_p50_ms=None, latency_b1_p50_ms=None, error="why")
            for s in ("failed", "skipped", "timeout", "crashed")]
    ResultStore(tmp_path).append(rows)
    assert sorted(ResultStore(tmp_path).read()["status"]) == ["crashed", "failed", "skipped", "timeout"]


# --- reading: skip what cannot be read, refuse what is newer ----------------------------------------------------

def _corrupt(path, good):
    data = bytearray(good.read_bytes())
    data[8:72] = b"\xff" * 64  # the first data page
    path.write_bytes(bytes(data))


BAD_FILES = {
    "corrupted": _corrupt,
    "truncated": lambda path, good: path.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
    "empty": lambda path, good: path.write_bytes(b""),
    "junk": lambda path, good: path.write_bytes(b"this is not parquet at all\n" * 10),
    "foreign": lambda path, good: pd.DataFrame({"a": [1, 2]}).to_parquet(path),
    "no-schema-version": lambda path, good: to_frame([row()]).drop(columns="schema_version").to_parquet(path),
    "wrong-types": lambda path, good: to_frame([row()]).astype({"score": "string"}).to_parquet(path),
    "mixed-versions": lambda path, good: to_frame([row(), row()]).assign(schema_version=[4, 5]).to_parquet(path),
}
REASONS = {"corrupted": "not a readable Parquet file", "truncated": "not a readable Parquet file",
           "empty": "not a readable Parquet file", "junk": "not a readable Parquet file",
           "foreign": "not a benchsuite results file (no schema_version, run_id, status, task, method, backend column)",
           "no-schema-version": "not a benchsuite results file (no schema_version column)",
           "wrong-types": "not a benchsuite results file (score is ",
           "mixed-versions": "schema_version 4, 5, which no benchsuite wrote"}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_an_unreadable_file_is_skipped_with_a_warning_and_the_rest_reads(tmp_path, kind):
    store = good_store(tmp_path)
    bad = tmp_path / "results-zz-bad.parquet"
    BAD_FILES[kind](bad, store.files()[0])
    warnings = []
    frame = store.read(warn=warnings.append)
    assert sorted(frame["run_id"]) == ["good0", "good1"] and list(frame.columns) == list(COLUMNS)
    assert len(warnings) == 1 and warnings[0].startswith(f"skipped {bad}: {REASONS[kind]}")
    assert warnings[0].endswith("; `benchsuite store check --fix` moves it into the store's quarantine folder")
    assert store.done_keys(warn=warnings.append) == {run_key(row(task="mnist-cnn"))}
    report = check_store(tmp_path)
    assert [(p.kind, p.path) for p in report.problems] == [("unreadable", bad)] and not report.clean


def test_temporary_and_other_files_are_never_read(tmp_path):
    store = good_store(tmp_path, rows=1)
    (tmp_path / ".tmp-results-x.parquet").write_bytes(store.files()[0].read_bytes())
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "tracebacks").mkdir()
    assert len(store.read(warn=pytest.fail)) == 1


@pytest.mark.parametrize("metadata, column, writer", [
    ({"schema_version": str(SCHEMA_VERSION), "benchsuite_version": "0.3.0"}, None, "benchsuite 0.3.0"),
    (None, "0.2.5", "benchsuite 0.2.5"),
    (None, None, "a newer benchsuite"),
])
def test_a_newer_schema_is_refused_naming_both_versions(tmp_path, metadata, column, writer):
    store = good_store(tmp_path, rows=1)
    frame = to_frame([row()]).assign(schema_version=SCHEMA_VERSION + 1, benchsuite_version=column)
    newer = write_raw(tmp_path / "results-x.parquet", frame, metadata)
    with pytest.raises(NewerSchemaError) as info:
        store.read()
    assert str(info.value) == (
        f"{newer} has schema_version {SCHEMA_VERSION + 1}, written by {writer}; this benchsuite "
        f"{benchsuite_version()} reads schema_version {SCHEMA_VERSION} and older: upgrade benchsuite (pip install -U benchsuite) or use another --store")
    with pytest.raises(NewerSchemaError):
        store.done_keys()


def test_metadata_alone_marks_a_file_newer(tmp_path):
    newer = str(SCHEMA_VERSION + 1)
    write_raw(tmp_path / "results-x.parquet", to_frame([row()]), {"schema_version": newer})
    with pytest.raises(NewerSchemaError, match=f"schema_version {newer}, written by a newer benchsuite"):
        ResultStore(tmp_path).read()


def test_a_schema_4_file_is_migrated(tmp_path):
    original = row(task="mnist-cnn", seed=np.int64(3), finetune_budget_steps=500, finetune_budget_seconds=900.0)
    v4 = to_frame([original]).drop(columns=V5_ONLY).assign(schema_version=4)
    v4.to_parquet(tmp_path / "results-v4.parquet")  # as benchsuite 0.1 with schema 4 wrote it: no metadata
    good_store(tmp_path, rows=1)
    frame = ResultStore(tmp_path).read()
    assert list(frame.columns) == list(COLUMNS) and frame["schema_version"].eq(SCHEMA_VERSION).all()
    old = frame[frame["run_id"] == "r1"].iloc[0]
    assert (old["traceback_file"], old["integrity"], old["artifact_sha256"]) == ("", "", "")
    assert pd.isna(old["time_limit_seconds"]) and pd.isna(old["memory_limit_bytes"])
    assert old["score"] == original["score"] and str(frame["memory_limit_bytes"].dtype) == "Int64"
    assert run_key(original) in ResultStore(tmp_path).done_keys()
    assert check_store(tmp_path).clean


# --- resume keys -----------------------------------------------------------------------------------------------

def test_run_key_survives_the_round_trip_through_parquet(tmp_path):
    rows = [
        row(seed=np.int64(1), quick=np.bool_(False), finetune_budget_steps=np.int32(500),
            finetune_budget_seconds=900, params='{"sparsity": 0.5, "scope": "global"}', backend_params="{}",
            hardware_fingerprint="abc", track="open"),
        row(run_id="r2", seed=None, quick=True, finetune_budget_steps=None, finetune_budget_seconds=float("nan"),
            task_version=None, config="low-rank:rank=0.25", params='{"rank":0.25}', backend_params=None),
        row(run_id="r3", status="skipped", score=None, finetune_budget_seconds=0.1 + 0.2, seed=0),
        row(run_id="r4", status="failed", score=None, seed=7),
    ]
    store = ResultStore(tmp_path)
    store.append(rows)
    frame = store.read()
    keys = [run_key(r) for r in rows]
    assert run_keys(frame) == keys == [run_key(r) for r in frame.to_dict("records")]
    assert len(set(keys)) == 4 and all(len(k) == 16 for k in keys)
    assert store.done_keys() == set(keys[:3])  # ok and skipped, not failed
    assert store.done_keys(statuses=("failed",)) == {keys[3]}


def test_done_keys_reads_only_the_key_columns(tmp_path, monkeypatch):
    good_store(tmp_path)
    asked = []
    real_read = pq.ParquetFile.read
    monkeypatch.setattr(pq.ParquetFile, "read", lambda self, columns=None, **kw: (asked.append(columns),
                                                                                  real_read(self, columns, **kw))[1])
    ResultStore(tmp_path).done_keys()
    assert len(asked) == 2 and all(set(c) == {*RUN_KEY_COLUMNS, "status", "timed", "schema_version"} for c in asked)


# --- store check ---------------------------------------------------------------------------------------------

def test_check_finds_every_kind_of_problem_and_fix_quarantines_them(tmp_path):
    store = good_store(tmp_path)
    twice = row(run_id="twice", task="mnist-cnn")
    store.append([twice])
    duplicate = store.append([twice, row(run_id="fine", task="mnist-cnn", seed=9)])
    invalid = tmp_path / "results-invalid.parquet"
    to_frame([row(run_id="bad", score=float("inf")), row(run_id="kept")], validate=False).to_parquet(invalid)
    (tmp_path / "results-junk.parquet").write_bytes(b"junk")
    old_tmp, young_tmp = tmp_path / ".tmp-results-old.parquet", tmp_path / ".tmp-results-young.parquet"
    old_tmp.write_bytes(b"x")
    young_tmp.write_bytes(b"x")
    os.utime(old_tmp, (time.time() - TMP_GRACE_S - 60,) * 2)
    newer = tmp_path / "results-newer.parquet"
    to_frame([row(run_id="future")]).assign(schema_version=SCHEMA_VERSION + 1).to_parquet(newer)
    before = snapshot(tmp_path)

    report = check_store(tmp_path)
    assert snapshot(tmp_path) == before  # checking changes nothing, not even a lock file
    kinds = sorted((p.kind, p.path.name) for p in report.problems)
    assert kinds == [("duplicate-row", duplicate.name), ("invalid-row", invalid.name),
                     ("newer-schema", newer.name), ("temp-file", old_tmp.name), ("unreadable", "results-junk.parquet")]
    assert not report.clean and report.files == 7 and report.rows == 7
    lines = "\n".join(report.lines())
    assert "invalid-row: results-invalid.parquet: row t × baseline × torch-cpu: score is inf" in lines

    fixed = check_store(tmp_path, fix=True)
    assert [p.kind for p in fixed.remaining] == ["newer-schema"] and not fixed.clean  # only an upgrade reads it
    quarantine = next((tmp_path / "quarantine").iterdir())
    assert sorted(p.name for p in quarantine.iterdir()) == sorted([duplicate.name, invalid.name,
                                                                    "results-junk.parquet"])
    for name in (duplicate.name, invalid.name, "results-junk.parquet"):  # the originals, byte for byte
        assert (quarantine / name).read_bytes() == before[name]
    assert not old_tmp.exists() and young_tmp.exists() and newer.read_bytes() == before[newer.name]
    assert any(line.startswith(f"rewrote {duplicate.name} -> quarantine/") for line in fixed.lines())

    newer.unlink()  # as if benchsuite were upgraded and the file read elsewhere
    assert check_store(tmp_path).clean
    assert sorted(ResultStore(tmp_path).read(warn=pytest.fail)["run_id"]) == ["fine", "good0", "good1", "kept",
                                                                               "twice"]


def test_fix_of_a_clean_store_changes_nothing(tmp_path):
    good_store(tmp_path)
    before = snapshot(tmp_path)
    report = check_store(tmp_path, fix=True)
    assert report.clean and not report.actions and snapshot(tmp_path) == before
    assert report.summary() == f"store {tmp_path} (2 results files, 2 rows) is clean"


def test_check_of_a_missing_store_is_clean_and_creates_nothing(tmp_path):
    assert check_store(tmp_path / "none").clean and not (tmp_path / "none").exists()


# --- the command line on bad input ---------------------------------------------------------------------------
# A few cases run the real command in a subprocess (conftest.cli); the parametrized ones call the same main() in
# this process, which saves the two-second start of each subprocess.

def bad_store(tmp_path, kind):
    store = good_store(tmp_path / "s")
    BAD_FILES[kind](tmp_path / "s" / "results-zz-bad.parquet", store.files()[0])
    return tmp_path / "s"


def main_here(capsys, *args):
    """`benchsuite *args` run by main() in this process, as a CompletedProcess."""
    from benchsuite.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.mark.parametrize("command", [["results"], ["store", "check"]])
def test_cli_store_that_is_a_file(tmp_path, command):
    bad = tmp_path / "file"
    bad.write_text("x")
    line = one_line(cli(*command, "--store", str(bad)), 1)
    assert line == f"benchsuite: error: store {bad} is not a folder; pass --store with a folder path"
    assert bad.read_text() == "x"


def test_cli_a_corrupted_file_end_to_end(tmp_path):
    """results warns and shows the rest; check reports and exits 1; --fix quarantines; then all is clean."""
    store = bad_store(tmp_path, "corrupted")
    before = snapshot(store)
    proc = cli("results", "--store", str(store), "--format", "json")
    line = one_line(proc, 0, prefix=f"benchsuite: warning: skipped {store / 'results-zz-bad.parquet'}: not a "
                                    "readable Parquet file (")
    assert line.endswith("; `benchsuite store check --fix` moves it into the store's quarantine folder")
    assert sorted(r["run_id"] for r in json.loads(proc.stdout)) == ["good0", "good1"]
    assert one_line(cli("store", "check", "--store", str(store)), 1, prefix="benchsuite: store ").endswith(
        ": 1 problem (1 unreadable); `benchsuite store check --fix` moves bad files and rows into the store's "
        "quarantine folder")
    assert snapshot(store) == before
    fixed = cli("store", "check", "--fix", "--store", str(store))
    assert one_line(fixed, 0, prefix="benchsuite: store ").endswith("; the store is clean")
    quarantined = next((store / "quarantine").iterdir()) / "results-zz-bad.parquet"
    assert f"moved results-zz-bad.parquet -> {quarantined.relative_to(store)}" in fixed.stdout
    assert quarantined.read_bytes() == before["results-zz-bad.parquet"]
    assert cli("results", "--store", str(store), check=0).stderr == ""


@pytest.mark.parametrize("kind", ["corrupted", "truncated", "foreign", "junk"])
def test_cli_results_skips_a_bad_file_with_one_warning(tmp_path, capsys, kind):
    store = bad_store(tmp_path, kind)
    before = snapshot(store)
    proc = main_here(capsys, "results", "--store", str(store), "--format", "json")
    line = one_line(proc, 0, prefix="benchsuite: warning: skipped ")
    assert f"results-zz-bad.parquet: {REASONS[kind]}" in line and line.endswith(
        "`benchsuite store check --fix` moves it into the store's quarantine folder")
    assert sorted(r["run_id"] for r in json.loads(proc.stdout)) == ["good0", "good1"]
    assert snapshot(store) == before


@pytest.mark.parametrize("kind", ["corrupted", "truncated", "foreign", "junk"])
def test_cli_store_check_reports_a_bad_file_then_fix_quarantines_it(tmp_path, capsys, kind):
    store = bad_store(tmp_path, kind)
    before = snapshot(store)
    proc = main_here(capsys, "store", "check", "--store", str(store))
    line = one_line(proc, 1, prefix="benchsuite: store ")
    assert line == (f"benchsuite: store {store} (3 results files, 2 rows): 1 problem (1 unreadable); "
                    "`benchsuite store check --fix` moves bad files and rows into the store's quarantine folder")
    assert proc.stdout.startswith(f"unreadable: results-zz-bad.parquet: {REASONS[kind]}")
    assert snapshot(store) == before
    fixed = main_here(capsys, "store", "check", "--fix", "--store", str(store))
    assert one_line(fixed, 0, prefix="benchsuite: store ").endswith("; the store is clean")
    assert "moved results-zz-bad.parquet -> quarantine/" in fixed.stdout
    one_line(main_here(capsys, "store", "check", "--store", str(store)), 0, prefix="benchsuite: store ")


def test_cli_newer_schema_is_refused_by_results_and_reported_by_check(tmp_path):
    store = good_store(tmp_path / "s").path
    write_raw(store / "results-x.parquet", to_frame([row()]).assign(schema_version=SCHEMA_VERSION + 1),
              {"benchsuite_version": "0.3.0"})
    before = snapshot(store)
    line = one_line(cli("results", "--store", str(store)), 1)
    assert line == (f"benchsuite: error: {store / 'results-x.parquet'} has schema_version {SCHEMA_VERSION + 1}, "
                    f"written by benchsuite 0.3.0; this benchsuite {benchsuite_version()} reads schema_version "
                    f"{SCHEMA_VERSION} and older: upgrade "
                    "benchsuite (pip install -U benchsuite) or use another --store")
    proc = cli("store", "check", "--fix", "--store", str(store))
    assert one_line(cli("store", "check", "--store", str(store)), 1, "benchsuite: store").endswith(
        ": 1 problem (1 newer-schema); only a newer benchsuite reads the newer-schema files: upgrade benchsuite "
        "(pip install -U benchsuite)")
    assert "1 problem (1 newer-schema) left: only a newer benchsuite reads" in one_line(proc, 1, "benchsuite: store")
    assert proc.stdout.startswith(f"newer-schema: results-x.parquet: schema_version {SCHEMA_VERSION + 1}, written "
                                  "by benchsuite 0.3.0")
    assert snapshot(store) == before  # --fix leaves it alone


def test_nan_metric_is_refused_at_write_in_one_line(tmp_path):
    """What `benchsuite run` prints when the runner hands the store a measured row with a NaN score."""
    store = good_store(tmp_path / "s").path
    before = snapshot(store)
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from conftest import make_row; "
            "from benchsuite.results.store import ResultStore; from benchsuite.errors import BenchsuiteError\n"
            "try:\n"
            f"    ResultStore({str(store)!r}).append([make_row(task='mnist-cnn', config='foo', score=float('nan'))])\n"
            "except BenchsuiteError as exc:\n"
            "    print(f'benchsuite: error: {exc}', file=sys.stderr); raise SystemExit(exc.exit_code)")
    line = one_line(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True), 1)
    assert line == ("benchsuite: error: row mnist-cnn × foo × torch-cpu: score is NaN; a measured (ok) row needs a "
                    "finite score")
    assert snapshot(store) == before


@pytest.mark.parametrize("args, fragment", [
    (["store", "bogus"], "argument COMMAND: invalid choice: 'bogus' (choose from "),
    (["store"], "the following arguments are required: COMMAND"),
    (["store", "check", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_cli_unknown_store_subcommand(tmp_path, capsys, args, fragment):
    store = good_store(tmp_path / "s").path
    before = snapshot(store)
    assert fragment in one_line(main_here(capsys, *args, *(["--store", str(store)] if len(args) > 1 else [])), 2)
    assert snapshot(store) == before


def test_cli_unknown_store_subcommand_in_a_subprocess(tmp_path):
    line = one_line(cli("store", "fix", "--store", str(tmp_path)), 2)
    assert line.startswith("benchsuite: error: argument COMMAND: invalid choice: 'fix' (choose from ")
    assert line.endswith("(see 'benchsuite store --help')")
    assert list(tmp_path.iterdir()) == []


def test_a_schema_7_file_gets_repeat_run_intervals_from_its_stored_rounds(tmp_path):
    from benchsuite.results.rows import speedup_of_rounds

    rounds = [2.9, 3.0, 3.1, 3.0, 2.95, 3.05, 3.0, 3.02]
    timed = row(run_id="r7", speedup_method="interleaved", speedup_round_ratios=rounds, realized_speedup=3.0,
                realized_speedup_ci_low=2.9, realized_speedup_ci_high=3.1)
    apart = row(run_id="r6", realized_speedup=2.0, realized_speedup_ci_low=1.9, realized_speedup_ci_high=2.1,
                speedup_method="separate sessions")
    v7 = to_frame([timed, apart]).drop(columns=["speedup_between_runs_sd"]).assign(schema_version=7)
    write_raw(tmp_path / "results-v7.parquet", v7, {"schema_version": "7"})
    frame = ResultStore(tmp_path).read().set_index("run_id")
    assert list(frame.reset_index()[list(COLUMNS)].columns) == list(COLUMNS)
    _, (low, high) = speedup_of_rounds(rounds, 0.02)
    assert (frame.at["r7", "realized_speedup_ci_low"], frame.at["r7", "realized_speedup_ci_high"]) == (low, high)
    assert low < 2.9 and high > 3.1 and frame.at["r7", "speedup_between_runs_sd"] == 0.02
    assert (frame.at["r6", "realized_speedup_ci_low"], frame.at["r6", "realized_speedup_ci_high"]) == (1.9, 2.1)
    assert pd.isna(frame.at["r6", "speedup_between_runs_sd"])
