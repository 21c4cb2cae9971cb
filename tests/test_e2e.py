"""Both real tasks, end to end through the CLI, on their real reference models (built once per machine)."""

import json

import pytest

from conftest import cli

pytestmark = pytest.mark.slow


def test_quick_standard_suite_on_both_real_tasks(tmp_path):
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--no-progress", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    got = {(r["task"], r["method"]): r for r in rows}
    assert len(rows) == 6 and all(r["status"] == "ok" and r["quick"] for r in rows)
    assert got[("mnist-cnn", "baseline")]["score"] >= 0.97
    assert got[("sentiment-minilm", "baseline")]["score"] >= 0.78  # 256-review quick subset
    for task in ("mnist-cnn", "sentiment-minilm"):
        base, int8, pruned = (got[(task, m)] for m in ("baseline", "dynamic-int8", "magnitude-pruning"))
        assert int8["model_size_bytes"] < base["model_size_bytes"]
        assert int8["speedup"] > 0 and int8["flops"] == base["flops"]
        assert pruned["params_nonzero"] == pytest.approx(0.5 * pruned["params_total"], rel=0.02)
        assert base["eval_samples"] == 256 and base["threads"] >= 1


def test_every_builtin_method_end_to_end_on_both_real_tasks(tmp_path):
    from benchsuite.params import format_spec
    from benchsuite.plugins import load_plugins

    plugins = load_plugins()
    headlines = [format_spec(e.name, e.obj(**e.obj.standard_configs[0]).params) for e in plugins.methods
                 if plugins.infos[e.plugin].source == "builtin" and e.name != "baseline"]
    assert len(headlines) == 12
    store = tmp_path / "store"
    args = [a for spec in headlines for a in ("--method", spec)]
    proc = cli("run", "--quick", "--no-progress", "--task", "mnist-cnn", "--task", "sentiment-minilm",
               "--store", str(store), *args)
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    bad = [(r["task"], r["config"], r["status"], r["error"]) for r in rows if r["status"] != "ok"]
    assert not bad and proc.returncode == 0, bad
    assert len(rows) == 2 * (len(headlines) + 1)
    by = {(r["task"], r["method"]): r for r in rows}
    for task in ("mnist-cnn", "sentiment-minilm"):
        assert by[(task, "early-exit")]["mean_exit_depth"] >= 1
        assert by[(task, "structured-pruning")]["flops"] < by[(task, "baseline")]["flops"]
        assert by[(task, "distillation")]["params_total"] < by[(task, "baseline")]["params_total"]
        assert by[(task, "low-rank")]["params_total"] < by[(task, "baseline")]["params_total"]
        assert by[(task, "int8-weight-only")]["model_size_bytes"] < by[(task, "baseline")]["model_size_bytes"]
