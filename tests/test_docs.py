"""The docs site (docs/) documents every hook with a runnable example, every CLI command, column and variable;
the README fits a first screen, its plugin runs and its links resolve."""

import functools
import importlib.util
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from benchsuite.discovery.loader import ALLOW_ENV, BLOCK_ENV, PLUGINS_DIR_ENV, load_plugins
from benchsuite.execution.hostlock import LOCK_ENV
from benchsuite.measure.allocator import ALLOCATOR_ENV
from benchsuite.results.schema import SCHEMA
from benchsuite.sdk import hookspecs
from benchsuite.sdk.paths import CACHE_ENV, STORE_ENV

from conftest import REPO

DOCS_DIR = REPO / "docs"
README = (REPO / "README.md").read_text(encoding="utf-8")
MKDOCS_YML = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
PAGES = {path.relative_to(DOCS_DIR).as_posix(): path.read_text(encoding="utf-8")
         for path in sorted(DOCS_DIR.rglob("*.md"))}
DOCS = "\n".join(PAGES.values())
PLUGIN_GUIDE = PAGES["guide/plugins.md"]
HOOKS = [name for name in dir(hookspecs) if name.startswith("benchsuite_")]

#: what the runnable example of each hook in docs/guide/plugins.md registers
HOOK_EXAMPLES = {
    "benchsuite_register_methods": ["method:identity"],
    "benchsuite_register_backends": ["backend:cpu-1-thread"],
    "benchsuite_register_tasks": ["task:mnist-cnn-b8"],
}


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def registers_of(code, tmp_path, name):
    """What the plugin file `code` registers when loaded strictly from a plugins folder, in a fresh process."""
    (tmp_path / f"{name}.py").write_text(code)
    script = ("import json; from benchsuite.discovery.loader import load_plugins; "
              f"p = load_plugins({str(tmp_path)!r}, strict=True); print(json.dumps(p.infos[{name!r}].registers))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def relative_links(text):
    """Link targets (without anchors) of Markdown text, leaving out code, where a link is only an example."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", prose)
            if not t.startswith(("http://", "https://", "#", "mailto:"))}


@functools.cache
def columns_hook():
    spec = importlib.util.spec_from_file_location("docs_hooks_columns", DOCS_DIR / "hooks" / "columns.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def columns_table():
    return columns_hook().columns_table()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_is_documented_with_a_runnable_example(hook, tmp_path):
    assert f"`{hook}(register)`" in PLUGIN_GUIDE
    assert hook in HOOK_EXAMPLES, f"{hook}: add a runnable example to docs/guide/plugins.md and list what it registers"
    block = next(b for b in python_blocks(PLUGIN_GUIDE) if f"def {hook}(register)" in b)
    assert registers_of(block, tmp_path, f"docs_{hook}") == HOOK_EXAMPLES[hook]


def test_the_docs_document_no_hook_that_does_not_exist():
    documented = set(re.findall(r"`(benchsuite_\w+)\(register\)`", DOCS + README))
    assert documented == set(HOOKS)


def test_the_example_plugin_package_is_in_the_plugin_guide_verbatim():
    folder = REPO / "examples" / "benchsuite-random-pruning"
    files = sorted(p for p in folder.iterdir() if p.suffix in (".py", ".toml", ".md"))
    assert [p.name for p in files] == ["README.md", "benchsuite_random_pruning.py", "pyproject.toml"]
    for path in files:
        assert path.read_text().strip() in PLUGIN_GUIDE, path.name


def test_the_readme_plugin_is_short_complete_and_prunes(tmp_path):
    (block,) = python_blocks(README)
    assert len(block.splitlines()) <= 30
    assert "from benchsuite import CompressionMethod, Param, hookimpl" in block
    assert registers_of(block, tmp_path, "layer_pruning") == ["method:layer-magnitude-pruning"]

    import torch
    from torch import nn

    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    model = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))
    pruned = namespace["LayerMagnitudePruning"](sparsity=0.7).apply(model, None)
    for layer in (pruned[0], pruned[2]):
        assert (layer.weight == 0).float().mean().item() == pytest.approx(0.7, abs=0.01)
    assert torch.count_nonzero(namespace["LayerMagnitudePruning"](sparsity=0.99).apply(nn.Linear(3, 2), None).weight) == 1


@pytest.mark.parametrize("column", SCHEMA, ids=lambda c: c.name)
def test_every_column_of_the_schema_is_in_the_generated_table(column):
    assert f"| `{column.name}` | {column.dtype} | {column.source} | " in columns_table()


def test_the_generated_table_has_one_row_per_column_and_replaces_the_marker():
    table = columns_table()
    assert table.splitlines()[0] == "| column | type | source | description |"
    assert len(table.splitlines()) == 2 + len(SCHEMA)
    page = SimpleNamespace(file=SimpleNamespace(src_uri="reference/columns.md"))
    source = PAGES["reference/columns.md"]
    assert source.count("<!-- columns -->") == 1
    built = columns_hook().on_page_markdown(source, page=page, config=None, files=None)
    assert "<!-- columns -->" not in built and table in built
    assert re.search(r"^hooks:\n  - docs/hooks/columns\.py$", MKDOCS_YML, flags=re.M)


def test_no_page_copies_the_column_table_by_hand():
    for name, text in PAGES.items():
        assert "| `latency_b1_p50_ci_high_ms` |" not in text, name


@pytest.mark.parametrize("command", ["run", "results", "compare", "validate", "plugins", "leaderboard", "tasks",
                                     "new-plugin", "submit", "store import", "store check", "cache list",
                                     "cache prune"])
def test_every_command_is_documented(command):
    assert f"benchsuite {command}" in PAGES["reference/cli.md"]


@pytest.mark.parametrize("variable", [ALLOW_ENV, BLOCK_ENV, PLUGINS_DIR_ENV, CACHE_ENV, STORE_ENV, ALLOCATOR_ENV,
                                      LOCK_ENV])
def test_every_environment_variable_is_documented(variable):
    assert f"| `{variable}` |" in PAGES["reference/environment.md"]


def test_every_builtin_method_and_backend_parameter_is_documented():
    plugins = load_plugins()
    methods, backends = PAGES["guide/methods.md"], PAGES["guide/backends.md"]
    for entry in plugins.methods:
        if plugins.infos[entry.plugin].source == "builtin":
            assert f"`{entry.name}`" in methods, entry.name
    for entry in plugins.backends:
        if plugins.infos[entry.plugin].source != "builtin":
            continue
        assert f"`{entry.name}`" in backends, entry.name
        for param in entry.obj.parameters:
            assert f"`{param.name}`" in backends, (entry.name, param.name)


def test_quickstart_names_the_two_commands():
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "scripts/main" in quick and ".ci/run" in quick and "constraints.txt" in quick


def test_the_readme_fits_a_first_screen():
    assert len(README.splitlines()) <= 250
    headline = README.split("## Headline results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in headline.splitlines() if line.startswith("| ") and not line.startswith(("| task ", "| --- "))]
    assert 1 <= len(rows) <= 10
    assert "docs/results/index.md" in headline


def test_the_readme_names_no_commits_and_no_machine_letters():
    assert re.findall(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", README) == []
    assert re.findall(r"\bmachine [A-Z]\b", README) == []


def test_relative_links_in_the_readme_point_at_files():
    targets = relative_links(README)
    assert {"docs/guide/plugins.md", "docs/results/index.md", "docs/reference/security.md"} <= targets
    assert [t for t in sorted(targets) if not (REPO / t).is_file()] == []


def test_relative_links_in_the_docs_point_at_files():
    broken = [(name, target) for name, text in PAGES.items() for target in relative_links(text)
              if target and not (DOCS_DIR / name).parent.joinpath(target).resolve().is_file()]
    assert broken == []


def test_every_module_path_the_docs_name_exists():
    """Module paths (`benchsuite/results/rows.py`, `execution/worker.py`, `benchsuite.discovery.loader`) name files
    that exist; dated results pages keep the paths of their day, and the flat paths plugins may still import
    (benchsuite/_moved.py) are named on purpose."""
    import benchsuite
    from benchsuite._moved import MOVED

    core = REPO / "benchsuite"
    packages = "|".join(p.name for p in core.iterdir() if (p / "__init__.py").is_file())
    missing = []
    for name, text in PAGES.items():
        if name.startswith("results/"):
            continue
        for path in re.findall(r"\bbenchsuite/[\w/.-]+\.(?:py|yaml)\b", text):
            if not (REPO / path).is_file():
                missing.append((name, path))
        for path in re.findall(rf"(?<![\w/.-])(?:{packages})/\w+\.py\b", text):
            if not (core / path).is_file():
                missing.append((name, path))
        for dotted in re.findall(r"\bbenchsuite(?:\.\w+)+", text):
            parts = dotted.split(".")
            if dotted in MOVED or (len(parts) == 2 and hasattr(benchsuite, parts[1])):
                continue
            found = [n for n in range(2, len(parts) + 1)
                     if core.joinpath(*parts[1:n]).with_suffix(".py").is_file()
                     or (core.joinpath(*parts[1:n]) / "__init__.py").is_file()]
            if not found:
                missing.append((name, dotted))
    assert missing == [], missing


def test_every_page_is_in_the_nav_and_every_results_page_is_dated_and_listed():
    assert [name for name in PAGES if f" {name}\n" not in MKDOCS_YML] == []
    results = [name.removeprefix("results/") for name in PAGES if name.startswith("results/2")]
    assert len(results) >= 10
    assert [name for name in results if not re.match(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md$", name)] == []
    assert [name for name in results if f"]({name})" not in PAGES["results/index.md"]] == []
