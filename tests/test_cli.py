"""The command line as a user meets it: one-line errors, exit codes, nothing stored on bad input."""

import json

import pandas as pd
import pytest

from conftest import GOOD, cli, one_line_error, snapshot, stored


@pytest.fixture
def env(tmp_path):
    return {"BENCHSUITE_CACHE": str(tmp_path / "cache")}


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
    (["--seeds", "0,x"], "--seeds takes comma-separated integers like 0,1,2"),
    (["--seeds", "1,1"], "--seeds takes distinct integers >= 0"),
    (["--seed", "1", "--seeds", "0,1"], "not allowed with argument"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--time-limit", "0"], "--time-limit got 0; give the seconds a phase may take"),
    (["--time-limit", "soon"], "argument --time-limit: invalid float value: 'soon'"),
    (["--memory-limit", "lots"], "--memory-limit got 'lots'; give a size like 8GiB"),
    (["--memory-limit", "0GiB"], "--memory-limit got '0GiB'; give a size like 8GiB"),
    (["--memory-limit", "8 parsecs"], "--memory-limit got '8 parsecs'"),
    (["--isolate", "container"], "argument --isolate: invalid choice: 'container'"),
])
def test_bad_run_input_is_one_line_nonzero_and_leaves_the_store_intact(args, fragment, tmp_path, env):
    store = stored(tmp_path / "store")
    before = snapshot(store)
    line = one_line_error(cli("run", "--store", str(store), *args, env=env))
    assert fragment in line
    assert snapshot(store) == before


def test_quick_run_end_to_end_then_results_in_every_format(tmp_path, env):
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--method", "toy-halve",
               "--method", "magnitude-pruning:sparsity=0.5", "--backend", "torch-cpu", "--store", str(store), env=env,
               check=0)
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
               "--method", "toy-halve", "--backend", "torch-cpu", "--store", str(store), env=env)
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


def test_seeds_then_by_seed_pytest_benchmark_export_and_compare(tmp_path, env):
    old, new = tmp_path / "old", tmp_path / "new"
    args = ["run", "--quick", "--no-progress", "--isolate", "none", "--plugins-dir", str(GOOD), "--task", "toy-blobs", "--backend",
            "torch-cpu", "--method", "toy-halve", "--method", "dynamic-int8"]
    proc = cli(*args, "--seeds", "0,1", "--store", str(old), env=env, check=0)
    assert "over seeds 0,1:" in proc.stdout
    rows = json.loads(cli("results", "--store", str(old), "--format", "json", check=0).stdout)
    seeds = {(r["method"], r["seed"]) for r in rows}
    # toy-halve trains, so it runs once per seed; the baseline and dynamic-int8 are deterministic: once
    assert seeds == {("baseline", 0), ("dynamic-int8", 0), ("toy-halve", 0), ("toy-halve", 1)}
    by_seed = cli("results", "--store", str(old), "--by-seed", check=0).stdout
    line = next(l for l in by_seed.splitlines() if "toy-halve" in l)
    assert " 2 " in line and "[" in line  # two seeds and an interval
    # pytest-benchmark's own `compare` reads the export
    export = tmp_path / "0001_bench.json"
    cli("results", "--store", str(old), "--format", "pytest-benchmark", "--output", str(export), check=0)
    doc = json.loads(export.read_text())
    assert len(doc["benchmarks"]) == 2 * len(rows)  # task batch size and batch 1
    assert all(b["stats"]["rounds"] >= 5 and b["stats"]["min"] <= b["stats"]["median"] for b in doc["benchmarks"])
    import subprocess
    import sys

    compared = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(export)],
                              capture_output=True, text=True)
    assert compared.returncode == 0 and "toy-blobs[toy-halve:factor=0.5@torch-cpu:b1]" in compared.stdout
    # a run compared with itself has no regression; an impossible threshold of -1 is refused in one line
    cli(*args, "--store", str(new), env=env, check=0)
    same = cli("compare", str(old), str(old), "--fail-on-regression", "5", check=0)
    assert "0 of 3 configurations regressed" in same.stderr
    refused = one_line_error(cli("compare", str(old), str(new), "--fail-on-regression", "-1"))
    assert "takes a percentage >= 0" in refused
    assert "does not exist" in one_line_error(cli("compare", str(old), str(tmp_path / "nope")))


def test_compare_fails_only_on_a_regression_beyond_both_runs_intervals(tmp_path):
    from conftest import make_row

    def method(speedup, low, high, score=0.90, score_low=0.88, score_high=0.92):
        return make_row(method="toy-halve", params='{"factor": 0.5}', realized_speedup=speedup,
                        realized_speedup_ci_low=low, realized_speedup_ci_high=high, score=score,
                        score_ci_low=score_low, score_ci_high=score_high, hardware_fingerprint="m1")

    stored(tmp_path / "a", method(2.0, 1.95, 2.05))
    stored(tmp_path / "b", method(1.6, 1.55, 1.65))  # 25% slower, intervals apart
    stored(tmp_path / "c", method(1.9, 1.80, 2.00))  # 5% slower, within the noise
    stored(tmp_path / "d", method(2.0, 1.95, 2.05, score=0.80, score_low=0.78, score_high=0.82))
    slower = cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-on-regression", "10")
    assert slower.returncode == 1 and "1 of 1 configurations regressed by more than 10%" in slower.stderr
    assert cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-on-regression", "30").returncode == 0
    noise = cli("compare", str(tmp_path / "a"), str(tmp_path / "c"), "--fail-on-regression", "1")
    assert noise.returncode == 0 and "overlap" in noise.stdout  # 5% > 1%, but the intervals overlap
    less_accurate = cli("compare", str(tmp_path / "a"), str(tmp_path / "d"), "--fail-on-regression", "5")
    assert less_accurate.returncode == 1
