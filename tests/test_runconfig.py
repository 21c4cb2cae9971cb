"""`benchsuite run --config FILE`: a TOML [run] table of the command's options; bad files get one line."""

import pytest

from benchsuite.cli import main
from conftest import GOOD, snapshot, stored


@pytest.fixture
def store(tmp_path):
    return stored(tmp_path / "store")


@pytest.mark.parametrize("text, fragment", [
    ("[run\ntask = 1", "is not valid TOML: "),
    ("task = ['mnist-cnn']", "needs exactly one [run] table; it has 'task'"),
    ("[run]\n[other]\n", "needs exactly one [run] table; it has 'other'"),
    ("[run]\ntasks = ['mnist-cnn']", "unknown key 'tasks' in [run]; the keys are task, method, backend"),
    ("[run]\ntask = 'mnist-cnn'", "task = 'mnist-cnn' is not a list of task names"),
    ("[run]\nmethod = ['']", "method = [''] is not a list of method specs"),
    ("[run]\nquick = 'yes'", "quick = 'yes' is not true or false"),
    ("[run]\nseeds = [1, 1]", "seeds = [1, 1] is not a list of distinct integers >= 0"),
    ("[run]\nseed = -1", "seed = -1 is not an integer >= 0"),
    ("[run]\nseed = 1\nseeds = [0, 1]", "give seed or seeds, not both"),
    ("[run]\ntrack = 'half-open'", "track = 'half-open' is not \"closed\" or \"open\""),
    ("[run]\ntime-limit = true", "time-limit = True is not a number of seconds"),
    ("[run]\nisolate = 'docker'", "isolate = 'docker' is not \"cell\", \"run\" or \"none\""),
    ("[run]\nmethod = ['magnitude-pruning:sparsity=7']", "parameter 'sparsity' got 7.0"),
    ("[run]\nmemory-limit = 'lots'", "--memory-limit got 'lots'"),
])
def test_a_bad_config_file_is_one_line_exit_2_and_leaves_the_store_intact(tmp_path, store, capsys, text, fragment):
    config = tmp_path / "grid.toml"
    config.write_text(text)
    before = snapshot(store)
    assert main(["run", "--config", str(config), "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchsuite: error:") and fragment in err[0], err
    assert snapshot(store) == before


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p / "missing.toml", "does not exist; give a TOML file with a [run] table"),
    (lambda p: p, "is a folder; give a TOML file with a [run] table"),
    (lambda p: (p / "bin.toml").write_bytes(b"\xff\xfe[run]") and p / "bin.toml", "is not UTF-8 text"),
])
def test_a_missing_folder_or_binary_config_is_one_line(tmp_path, store, capsys, make, fragment):
    assert main(["run", "--config", str(make(tmp_path)), "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_a_config_file_runs_its_grid_and_the_command_line_adds_and_overrides(tmp_path, toy_cache, capsys):
    from benchsuite.results.store import ResultStore

    store = tmp_path / "store"
    config = tmp_path / "grid.toml"
    config.write_text(f"""
[run]
task = ["toy-blobs"]
method = ["toy-halve:factor=0.5"]
backend = ["torch-cpu"]
plugins-dir = "{GOOD}"
store = "{tmp_path / 'elsewhere'}"
quick = true
isolate = "none"
seeds = [3]
""")
    code = main(["run", "--config", str(config), "--store", str(store), "--method", "toy-halve:factor=0.25",
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    frame = ResultStore(store).read()
    assert sorted(frame["config"]) == ["baseline", "toy-halve:factor=0.25", "toy-halve:factor=0.5"]
    assert frame["quick"].all() and set(frame["seed"]) == {3} and not (tmp_path / "elsewhere").exists()
