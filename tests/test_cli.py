"""The command line as a user meets it: one-line errors, exit codes, nothing stored on bad input."""

import json

import pandas as pd
import pytest

from conftest import GOOD, cli


@pytest.fixture
def env(tmp_path):
    return {"BENCHSUITE_CACHE": str(tmp_path / "cache")}


def one_line_error(proc, code=2):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchsuite: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("args, fragment", [
    (["--method", "magnitude-prunin"], "Unknown method 'magnitude-prunin'. Did you mean 'magnitude-pruning'?"),
    (["--method", "magnitude-pruning:sparsity=2"], "parameter 'sparsity' got 2.0; it accepts a number from 0.0 to 0.99"),
    (["--method", "magnitude-pruning:spars=0.5"], "has no parameter 'spars'; it accepts: sparsity, scope, schedule, stages, finetune_steps, lr"),
    (["--method", "magnitude-pruning:sparsity"], "is not key=value"),
    (["--task", "mnist"], "Unknown task 'mnist'. Did you mean 'mnist-cnn'?"),
    (["--backend", "torch-cpu:threads=-1"], "parameter 'threads' got -1"),
    (["--track", "open", "--finetune-budget", "-5"], "--finetune-budget got -5"),
    (["--finetune-budget", "10"], "need --track open"),
    (["--track", "open", "--finetune-budget-seconds", "0"], "--finetune-budget-seconds got 0"),
    (["--method", "magnitude-pruning >"], "empty step in method pipeline"),
    (["--method", "magnitude-pruning > dynamic-int9"], "Unknown method 'dynamic-int9'. Did you mean 'dynamic-int8'"),
    (["--suite", "huge"], "invalid choice: 'huge'"),
    (["--plugins-dir", "/nonexistent"], "is not a directory"),
    (["--seed", "x"], "invalid int value"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_run_input_is_one_line_nonzero_and_stores_nothing(args, fragment, tmp_path, env):
    store = tmp_path / "store"
    line = one_line_error(cli("run", "--store", str(store), *args, env=env))
    assert fragment in line
    assert not store.exists()


def test_quick_run_end_to_end_then_results_in_every_format(tmp_path, env):
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--method", "toy-halve",
               "--method", "magnitude-pruning:sparsity=0.5", "--store", str(store), env=env, check=0)
    assert "3 runs in" in proc.stderr and "3 ok, 0 failed" in proc.stderr
    assert "toy-halve:factor=0.5" in proc.stdout and "speedup" in proc.stdout  # the summary table
    table = cli("results", "--store", str(store), check=0).stdout
    assert "magnitude-pruning:sparsity=0.5,scope=global,schedule=oneshot," in table
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}
    csv = cli("results", "--store", str(store), "--format", "csv", check=0).stdout
    assert csv.splitlines()[0].startswith("schema_version,run_id,created_at,status")
    out = tmp_path / "r.parquet"
    cli("results", "--store", str(store), "--format", "parquet", "--output", str(out), check=0)
    assert len(pd.read_parquet(out)) == 3
    one_line_error(cli("results", "--store", str(store), "--format", "parquet"))


def test_failed_run_gives_nonzero_exit_and_keeps_the_rest(tmp_path, env):
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--method", "toy-explodes",
               "--method", "toy-halve", "--store", str(store), env=env)
    assert proc.returncode == 1
    assert "1 failed" in proc.stderr and "Traceback" not in proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    assert sorted(r["status"] for r in rows) == ["failed", "ok", "ok"]


def test_results_of_an_empty_store(tmp_path):
    proc = cli("results", "--store", str(tmp_path / "none"), check=0)
    assert "no results in the store yet" in proc.stdout


def test_store_that_is_a_file_is_refused(tmp_path, env):
    bad = tmp_path / "file"
    bad.write_text("x")
    assert "is not a folder" in one_line_error(cli("run", "--quick", "--store", str(bad), env=env), code=1)
    assert bad.read_text() == "x"
