import subprocess
import sys

import pytest

from benchsuite.errors import DuplicateNameError, PluginError, UsageError
from benchsuite.discovery.loader import load_plugins

from conftest import BROKEN, DUPLICATE, GOOD, cli


def test_builtins_then_entry_points_then_plugins_dir():
    plugins = load_plugins(GOOD)
    sources = [info.source for info in plugins.infos.values()]
    assert sources == sorted(sources, key=["builtin", "entry point", "plugins dir"].index)
    assert sources[-3:] == ["plugins dir"] * 3
    assert {"baseline", "dynamic-int8", "magnitude-pruning", "toy-halve"} <= set(plugins.methods.names())
    assert plugins.methods.entry("toy-halve").plugin == "toy_methods"
    assert plugins.infos["toy_methods"].version.startswith("sha256:")


def test_builtin_plugins_are_entry_points_of_the_benchsuite_distribution():
    plugins = load_plugins()
    builtin = [i for i in plugins.infos.values() if i.source == "builtin"]
    assert {i.dist for i in builtin} == {"benchsuite"}
    assert {"mnist-cnn", "sentiment-minilm"} <= set(plugins.tasks.names())
    assert "torch-cpu" in plugins.backends.names()


def test_block_list_skips_matching_plugins():
    plugins = load_plugins(GOOD, environ={"BENCHSUITE_PLUGINS_BLOCK": "toy_task,builtin.methods.dynamic-*"})
    assert plugins.infos["toy_task"].status == "blocked"
    assert "toy-blobs" not in plugins.tasks.names()
    assert "dynamic-int8" not in plugins.methods.names()
    assert "toy-halve" in plugins.methods.names()


def test_allow_list_admits_only_named_third_party_plugins():
    plugins = load_plugins(GOOD, environ={"BENCHSUITE_PLUGINS_ALLOW": "toy_task"})
    assert plugins.infos["toy_methods"].status == "not allowed"
    assert "toy-blobs" in plugins.tasks.names()
    assert "baseline" in plugins.methods.names()  # built-ins are not subject to the allow list


def test_plugin_lists_decide_for_names_and_for_stored_rows():
    from benchsuite.discovery.loader import PluginLists

    lists = PluginLists.from_environ({"BENCHSUITE_PLUGINS_ALLOW": " nice_*, other ",
                                      "BENCHSUITE_PLUGINS_BLOCK": "builtin.methods.dynamic-*"})
    assert lists == PluginLists(("nice_*", "other"), ("builtin.methods.dynamic-*",))
    assert lists.exclusion("nice_one", builtin=False) is None
    assert lists.exclusion("evil", builtin=False) == "not allowed"
    assert lists.exclusion("builtin.methods.baseline", builtin=True) is None
    assert lists.exclusion("builtin.methods.dynamic-int8", builtin=True) == "blocked"
    assert lists.row_exclusion("builtin.methods.baseline") is None  # built-in by its reserved prefix
    assert lists.row_exclusion("nice_one > builtin.methods.baseline") is None
    assert lists.row_exclusion("nice_one > evil") == "not allowed"  # any step of a pipeline
    assert lists.row_exclusion("evil > builtin.methods.dynamic-int8") == "blocked"  # blocked before not allowed
    assert lists.row_exclusion(None) == "not allowed"  # no plugin recorded: not shown under an allow list
    assert PluginLists().row_exclusion(None) is None
    assert PluginLists.from_environ({"BENCHSUITE_PLUGINS_ALLOW": " , "}).allow == ()  # set, naming no one


def test_broken_plugins_are_reported_by_name_and_skipped():
    warnings = []
    plugins = load_plugins(BROKEN, warn=warnings.append)
    failed = {name: info.error for name, info in plugins.infos.items() if info.status == "failed"}
    assert set(failed) == {"broken_import", "broken_register", "bad_family", "not_a_class", "typo_hook"}
    assert 'Error importing plugin "broken_import": ModuleNotFoundError' in failed["broken_import"]
    assert "cannot register today" in failed["broken_register"]
    assert "family 'magic'" in failed["bad_family"]
    assert "subclass of benchsuite.CompressionMethod" in failed["not_a_class"]
    assert "unknown hook benchsuite_register_method" in failed["typo_hook"]
    assert len(warnings) == 5 and all("skipped" in w for w in warnings)
    assert "weird" not in plugins.methods.names()
    assert "baseline" in plugins.methods.names()  # the rest still works


def test_strict_makes_a_broken_plugin_fatal():
    with pytest.raises(PluginError, match='"bad_family"|"broken_import"|"broken_register"'):
        load_plugins(BROKEN, strict=True)


def test_duplicate_method_name_fails_naming_both_plugins():
    with pytest.raises(DuplicateNameError) as err:
        load_plugins(DUPLICATE)
    assert '"builtin.methods.baseline"' in str(err.value) and '"another_baseline"' in str(err.value)


def test_missing_plugins_dir_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is not a directory"):
        load_plugins(tmp_path / "nope")


def test_importing_benchsuite_loads_no_plugins_and_no_torch():
    code = ("import sys, benchsuite; "
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'benchsuite_plugins', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_keeps_working_with_broken_plugins():
    proc = cli("plugins", "--plugins-dir", str(BROKEN), check=0)
    assert "broken_import" in proc.stdout and "[failed: Error importing plugin" in proc.stdout
    assert 'warning: Error importing plugin "broken_import"' in proc.stderr
    assert "Traceback" not in proc.stderr
    assert cli("--help").returncode == 0


def test_cli_strict_plugins_is_one_line_and_nonzero():
    proc = cli("plugins", "--plugins-dir", str(BROKEN), "--strict-plugins")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("benchsuite: error:")


def test_plugins_command_lists_name_registrations_and_distribution():
    proc = cli("plugins", "--verbose", "--plugins-dir", str(GOOD), check=0)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("builtin.methods.magnitude-pruning"))
    assert "benchsuite 0.1.0" in line and "method:magnitude-pruning" in line
    assert "standard: magnitude-pruning:sparsity=0.5" in proc.stdout
    assert "sparsity=0.5: fraction of prunable weights" in proc.stdout
    assert "torch-cpu (v1, from builtin.backends.torch-cpu): available" in proc.stdout
    assert "emulated=False: also run models that need arithmetic" in proc.stdout
    fp16 = proc.stdout.split("\n  fp16 (v")[1].split("\n  bf16 (v")[0]
    assert "needs native: fp16" in fp16
