"""`benchsuite new-plugin NAME`: write a method plugin package that installs, registers and passes its own test as is.

The package starts as a real method (global magnitude pruning) so that every piece works before the author
replaces it: the entry point, Param validation, the end-to-end test through `benchsuite.run`.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from string import Template

from benchsuite.errors import UsageError

MAX_NAME_LENGTH = 40
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_RULE = f"lowercase letters, digits and single hyphens, starting with a letter, at most {MAX_NAME_LENGTH} characters"
_EXAMPLE = "my-pruning"
#: the method's starting version; bump it whenever a change alters results
PLUGIN_VERSION = "0.1.0"


@dataclass(frozen=True)
class Scaffold:
    """What `new_plugin` wrote.

    :param name: the method name, also the plugin's entry-point name (``my-pruning``).
    :param dist: the distribution name (``benchsuite-my-pruning``).
    :param module: the importable module (``benchsuite_my_pruning``).
    :param folder: the package folder.
    :param files: the files written, relative to `folder`, in writing order.
    """

    name: str
    dist: str
    module: str
    folder: Path
    files: tuple[Path, ...]


def dist_name(name: str) -> str:
    """``my-pruning`` -> ``benchsuite-my-pruning``."""
    return f"benchsuite-{name}"


def module_name(name: str) -> str:
    """``my-pruning`` -> ``benchsuite_my_pruning``."""
    return "benchsuite_" + name.replace("-", "_")


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _suggestion(name: str) -> str:
    """A valid name close to `name` (``My Plugin!`` -> ``my-plugin``), else the generic example."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).lstrip("-0123456789")[:MAX_NAME_LENGTH].strip("-")
    return slug if slug and slug != name and _NAME.fullmatch(slug) else _EXAMPLE


def check_name(name: str, taken: Collection[str] = ()) -> None:
    """Raise UsageError unless `name` is a well-formed method name that no loaded plugin uses yet.

    :param taken: method and plugin names already registered (a new plugin with one of them would be a duplicate).
    """
    if not name:
        raise UsageError(f"the plugin name is empty; give a method name of {_RULE}, e.g. '{_EXAMPLE}'")
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        bad = dict.fromkeys(c for c in name if not (c.isascii() and (c.islower() or c.isdigit() or c == "-")))
        if bad:
            problem = "contains " + ", ".join(repr(c) for c in bad)
        elif not name[0].isalpha():
            problem = f"starts with {name[0]!r}"
        elif len(name) > MAX_NAME_LENGTH:
            problem = f"is {len(name)} characters long"
        else:
            problem = "has a hyphen at the end or two in a row"
        raise UsageError(f"invalid plugin name {name!r}: it {problem}; use {_RULE}, e.g. '{_suggestion(name)}'")
    if name.startswith("benchsuite-"):
        raise UsageError(f"invalid plugin name {name!r}: leave out the 'benchsuite-' prefix, new-plugin adds it to "
                         f"the distribution name; e.g. '{name.removeprefix('benchsuite-')}'")
    if name in taken:
        other = f"my-{name}" if len(name) + 3 <= MAX_NAME_LENGTH else _EXAMPLE
        raise UsageError(f"a method or plugin named {name!r} is already registered (see `benchsuite plugins`); "
                         f"choose another NAME, e.g. '{other}'")
    module = module_name(name)
    if importlib.util.find_spec(module) is not None:
        other = f"my-{name}" if len(name) + 3 <= MAX_NAME_LENGTH else _EXAMPLE
        raise UsageError(f"a module named {module} is already importable here and plugin {name!r} would clash "
                         f"with it; choose another NAME, e.g. '{other}'")


def _check_output(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {folder} is a file; pass --output with a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise UsageError(f"output folder {folder} exists and is not empty; pass --output with a new or empty "
                         "folder, or remove it")
    parent = next((p for p in folder.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"output {folder} is inside {parent}, which is a file; pass --output with a folder path")


def registered_names() -> frozenset[str]:
    """Every method and plugin name the installed plugins use (a plugin that fails to load is skipped quietly)."""
    from benchsuite.discovery.loader import load_plugins

    plugins = load_plugins(warn=lambda message: None)
    return frozenset(plugins.methods.names()) | frozenset(plugins.infos)


def render(name: str) -> dict[Path, str]:
    """The package's files for method `name` (relative path -> text), without writing anything."""
    values = {"name": name, "dist": dist_name(name), "module": module_name(name), "class_name": _class_name(name),
              "test_name": name.replace("-", "_"), "version": PLUGIN_VERSION}
    return {path: Template(text).substitute(values) for path, text in (
        (Path("pyproject.toml"), PYPROJECT),
        (Path("README.md"), README),
        (Path(f"{values['module']}.py"), MODULE),
        (Path("tests") / f"test_{values['test_name']}.py", TEST),
    )}


def new_plugin(name: str, output: str | Path | None = None, *, taken: Collection[str] | None = None) -> Scaffold:
    """Write a method plugin package for `name` into `output` (default ``./benchsuite-NAME``).

    Every check runs before anything is written: a bad name or output raises UsageError and leaves the disk as
    it was.

    :param taken: names already in use; default: those of the installed plugins (`registered_names`).
    """
    check_name(name)
    folder = Path(output if output is not None else dist_name(name))
    _check_output(folder)
    check_name(name, registered_names() if taken is None else taken)
    files = render(name)
    created: list[Path] = []
    try:
        for directory in (*reversed(folder.parents), folder, folder / "tests"):
            if not directory.exists():
                directory.mkdir()
                created.append(directory)
        for relative, text in files.items():
            path = folder / relative
            path.write_text(text, encoding="utf-8")
            created.append(path)
    except OSError as exc:
        for path in reversed(created):  # leave nothing half-written behind
            path.unlink() if path.is_file() else path.rmdir()
        raise UsageError(f"cannot write {exc.filename or folder}: {exc.strerror}; pass --output with a folder "
                         "you can write to") from None
    return Scaffold(name, dist_name(name), module_name(name), folder, tuple(files))


PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "$version"
description = "benchsuite method plugin: $name"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["benchsuite"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The plugin contract: one entry point in the `benchsuite` group pointing at the module with the hooks.
[project.entry-points.benchsuite]
$name = "$module"

[tool.setuptools]
py-modules = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

README = '''\
# $dist

A benchsuite method plugin that registers the compression method
`$name`. It was made by `benchsuite new-plugin $name` and starts as global magnitude pruning: a working
method to replace with yours (the docstring of `$module.py` says what to change).

## Install

Into the environment where benchsuite is installed:

```bash
pip install -e ".[test]"
benchsuite plugins          # $name  $dist $version  method:$name
```

## Run

```bash
benchsuite run --task mnist-cnn --method $name:sparsity=0.5 --quick   # smoke test (rows marked quick)
benchsuite run --task mnist-cnn --method $name                        # its standard configuration
benchsuite run --task mnist-cnn --method $name --suite full           # its sweep too
benchsuite results
```

Each row is compared with the task's baseline measured in the same run. `benchsuite plugins --verbose` lists
the parameters; an out-of-range value (`$name:sparsity=2`) is refused before anything runs.

## Test

```bash
pytest
```

`tests/test_$test_name.py` runs `$name` end to end on mnist-cnn in quick mode through `benchsuite.run` and
checks the recorded row (status `ok`, the distribution, the sparsity asked for). The first run trains
mnist-cnn's small reference model once and caches it (`BENCHSUITE_CACHE`).

## Submit

1. Keep `version` in `$module.py` in step with behaviour: bump it whenever a change alters results.
2. Measure on the closed track (the default: the shared fine-tuning and calibration budget) and without
   `--quick`, so that rows compare like for like with the built-in methods: `benchsuite run --method $name`.
3. Export the rows with `benchsuite results --format parquet --output $name.parquet` and publish them with
   the package (`python -m build`, then upload to PyPI or share the repository). Anyone can reproduce them
   with `pip install $dist` and the same `benchsuite run` command; `benchsuite compare OLD NEW
   --fail-on-regression PCT` guards against regressions in CI.
'''

MODULE = '''\
"""$name: global magnitude pruning of Linear and Conv weights, the starting point of your own method.

Made by `benchsuite new-plugin $name`. It works as is; to make it your method, replace:

- `apply`: your compression. It gets a private copy of the task's float reference model (eval mode) and
  returns the compressed model, called the same way: ``model(*inputs) -> logits``. `context` holds the task
  info, the teacher, the seed, the device, `training_batches(steps)` (labelled, within the fine-tuning budget)
  and `calibration_inputs(num_samples)` (inputs without labels, within the calibration budget).
- `parameters`: your method's settings as `Param`s; benchsuite validates them (type, range, choices) and
  fills in defaults before `apply` sees them in ``self.params``.
- `standard_configs` (the headline configuration the standard suite runs) and `sweep_configs` (what
  ``--suite full`` adds).
- `family` (one of benchsuite.FAMILIES), and `deterministic`: False as soon as your method uses data or
  randomness.
- `version`: bump it whenever a change alters results.

Keep tests/test_$test_name.py passing; its sparsity check is pruning's, adapt it to what your method
promises. The whole contract (kernels, devices, backends, modalities) is in
benchsuite's README, "Writing a plugin".
"""

import torch
from torch import nn

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl

#: the layers whose weights are pruned; biases, norms and embeddings are kept
PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


class $class_name(CompressionMethod):
    """Zero the `sparsity` fraction of smallest-magnitude weights, ranked across all prunable layers at once."""

    name = "$name"
    family = "pruning"
    version = "$version"
    parameters = (
        Param("sparsity", float, 0.5, "fraction of Linear and Conv weights set to zero", min=0.0, max=0.99),
    )
    standard_configs = ({"sparsity": 0.5},)
    sweep_configs = ({"sparsity": 0.7}, {"sparsity": 0.9})
    deterministic = True  # no data, no randomness: compressing twice gives the same model

    def apply(self, model, context):
        weights = [module.weight for module in model.modules() if isinstance(module, PRUNABLE)]
        if not weights:
            raise Unsupported(f"{self.name} found no Linear or Conv weights to prune")
        magnitudes = torch.cat([weight.detach().abs().flatten() for weight in weights])
        count = int(self.params["sparsity"] * magnitudes.numel())
        if count:
            threshold = magnitudes.kthvalue(count).values
            with torch.no_grad():
                for weight in weights:
                    weight.mul_(weight.abs() > threshold)
        return model


@hookimpl
def benchsuite_register_methods(register):
    register($class_name)
'''

TEST = '''\
"""$name, installed, runs end to end through benchsuite's public API and is recorded as asked.

Needs the package installed (`pip install -e ".[test]"`): benchsuite finds $name through its entry point.
"""

import pytest

import benchsuite
from $module import $class_name

SPARSITY = 0.5


def test_parameters_are_validated():
    assert $class_name().params["sparsity"] == 0.5
    with pytest.raises(benchsuite.BenchsuiteError, match="sparsity"):
        $class_name(sparsity=1.5)


def test_runs_end_to_end_on_mnist(tmp_path):
    frame = benchsuite.run(["mnist-cnn"], [f"$name:sparsity={SPARSITY}"], ["torch-cpu"],
                           store=str(tmp_path / "results"), quick=True)
    rows = frame[frame["method"] == "$name"]
    assert len(rows) == 1, frame[["method", "status"]]
    row = rows.iloc[0]
    assert row["status"] == "ok", row.get("error")
    assert row["method_dist"] == "$dist"
    # what the method promises (replace with your method's): sparsity counts every parameter, and the few
    # biases and norms that are kept lower it slightly
    assert abs(row["sparsity"] - SPARSITY) < 0.05
    assert row["score"] > 0.5  # chance is 0.1: a method that breaks the model lands near it
'''
