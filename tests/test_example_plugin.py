"""The example plugin package, installed for real, is discovered through its entry point and runs."""

import subprocess
import sys

import pytest

from conftest import GOOD, REPO, cli


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO / "examples" / "benchsuite-random-pruning")],
                   check=True, capture_output=True, text=True)
    return {"PYTHONPATH": str(target)}


def test_example_is_discovered_through_its_entry_point(installed):
    proc = cli("plugins", env=installed, check=0)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("random-pruning"))
    assert "benchsuite-random-pruning 0.1.0" in line and "method:random-pruning" in line


def test_example_runs_and_is_recorded(installed, tmp_path):
    env = {**installed, "BENCHSUITE_CACHE": str(tmp_path / "cache")}
    store = tmp_path / "store"
    cli("run", "--quick", "--no-progress", "--task", "toy-blobs", "--backend", "torch-cpu", "--method", "random-pruning:sparsity=0.5",
        "--plugins-dir", str(GOOD), "--store", str(store), env=env, check=0)
    proc = cli("results", "--store", str(store), "--format", "json", check=0)
    import json

    rows = {r["method"]: r for r in json.loads(proc.stdout)}
    pruned = rows["random-pruning"]
    assert pruned["status"] == "ok" and pruned["method_dist"] == "benchsuite-random-pruning"
    assert pruned["method_dist_version"] == "0.1.0" and pruned["method_plugin"] == "random-pruning"
    assert 0.3 < pruned["sparsity"] < 0.55
