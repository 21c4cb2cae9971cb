"""The README documents every hook (with a runnable example), every CLI command, column and variable."""

import re
import subprocess
import sys

import pytest

from benchsuite import hookspecs
from benchsuite.measure.allocator import ALLOCATOR_ENV
from benchsuite.execution.hostlock import LOCK_ENV
from benchsuite.discovery.loader import ALLOW_ENV, BLOCK_ENV, PLUGINS_DIR_ENV
from benchsuite.sdk.paths import CACHE_ENV, STORE_ENV
from benchsuite.results.schema import SCHEMA

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
HOOKS = [name for name in dir(hookspecs) if name.startswith("benchsuite_")]


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_there_are_exactly_three_hooks():
    assert HOOKS == ["benchsuite_register_backends", "benchsuite_register_methods", "benchsuite_register_tasks"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_a_runnable_example(hook, tmp_path):
    assert f"`{hook}(register)`" in README
    block = next(b for b in python_blocks() if f"def {hook}(register)" in b)
    plugin = tmp_path / f"readme_{hook}.py"
    plugin.write_text(block)
    code = ("from benchsuite.discovery.loader import load_plugins; "
            f"p = load_plugins({str(tmp_path)!r}, strict=True); "
            f"print(p.infos['readme_{hook}'].registers)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith("['")


def test_readme_example_plugin_is_the_one_in_examples():
    folder = REPO / "examples" / "benchsuite-random-pruning"
    assert (folder / "benchsuite_random_pruning.py").read_text().strip() in README
    assert (folder / "pyproject.toml").read_text().strip() in README


@pytest.mark.parametrize("column", [c.name for c in SCHEMA])
def test_every_column_is_documented(column):
    assert f"| `{column}` |" in README


@pytest.mark.parametrize("command", ["run", "results", "compare", "validate", "plugins", "leaderboard", "tasks",
                                     "new-plugin", "submit", "store import", "store check", "cache list",
                                     "cache prune"])
def test_every_command_is_documented(command):
    assert f"benchsuite {command}" in README


@pytest.mark.parametrize("variable", [ALLOW_ENV, BLOCK_ENV, PLUGINS_DIR_ENV, CACHE_ENV, STORE_ENV, ALLOCATOR_ENV,
                                      LOCK_ENV])
def test_every_environment_variable_is_documented(variable):
    assert f"`{variable}`" in README


def test_quickstart_names_the_two_commands():
    quick = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "scripts/main" in quick and ".ci/run" in quick


def test_every_builtin_method_and_backend_parameter_is_documented():
    from benchsuite.discovery.loader import load_plugins

    plugins = load_plugins()
    table = README.split("## Methods and backends", 1)[1].split("\n## ", 1)[0]
    for entry in plugins.methods:
        if plugins.infos[entry.plugin].source == "builtin":
            assert f"`{entry.name}`" in table, entry.name
    for entry in plugins.backends:
        for param in entry.obj.parameters:
            assert f"`{param.name}`" in table, (entry.name, param.name)


def test_relative_links_in_the_readme_point_at_files():
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", README)
               if not t.startswith(("http://", "https://", "#"))}
    assert "docs/security.md" in targets
    assert [t for t in sorted(targets) if not (REPO / t).is_file()] == []
