"""execution/worker.py: a worker that cannot load what the parent loaded says so in the row."""

from conftest import GOOD, HERE, plugins_folder


def test_a_plugin_that_exits_only_in_the_worker_fails_its_cell_naming_the_plugin(tmp_path, toy_cache, one_thread):
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import build_grid

    folder = plugins_folder(tmp_path / "plugins", GOOD / "toy_task.py", HERE / "plugins" / "worker_only" /
                            "exits_in_worker.py")
    plugins = load_plugins(folder, warn=lambda m: None,
                           environ={"BENCHSUITE_PLUGINS_BLOCK": "builtin.backends.torch-compile,"
                                                                "builtin.backends.onnxruntime"})
    grid = build_grid(plugins, ["toy-blobs"], ["toy-worker-shy"], ["torch-cpu"])
    rows = run_grid(plugins, grid, RunOptions(quick=True), None, progress=False)
    shy = rows[1]
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert shy["error"].startswith("task toy-blobs could not be set up: Unknown method 'toy-worker-shy'")
    assert 'Error importing plugin "exits_in_worker": SystemExit(5)' in shy["error"]
