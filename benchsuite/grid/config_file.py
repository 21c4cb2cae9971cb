"""Run configuration files: ``benchsuite run --config grid.toml`` reads the command's options from a TOML file.

The file holds one ``[run]`` table whose keys are the long options of ``benchsuite run`` (hyphens or
underscores); options given on the command line override it, and repeatable ones (task, method, backend) add to it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchsuite.errors import UsageError

#: key -> (argparse destination, expected Python type(s), words for the error message)
KEYS: dict[str, tuple[str, tuple[type, ...], str]] = {
    "task": ("task", (list,), "a list of task names"),
    "method": ("method", (list,), "a list of method specs like \"magnitude-pruning:sparsity=0.5\""),
    "backend": ("backend", (list,), "a list of backend specs like \"torch-cpu:threads=1\""),
    "store": ("store", (str,), "a folder path"),
    "plugins_dir": ("plugins_dir", (str,), "a folder path"),
    "suite": ("suite", (str,), "\"standard\" or \"full\""),
    "track": ("track", (str,), "\"closed\" or \"open\""),
    "finetune_budget": ("finetune_budget", (int,), "an integer number of steps"),
    "finetune_budget_seconds": ("finetune_budget_seconds", (int, float), "a number of seconds"),
    "quick": ("quick", (bool,), "true or false"),
    "seed": ("seed", (int,), "an integer >= 0"),
    "seeds": ("seeds", (list,), "a list of distinct integers >= 0"),
    "time_limit": ("time_limit", (int, float), "a number of seconds"),
    "memory_limit": ("memory_limit", (str,), "a size like \"8GiB\""),
    "isolate": ("isolate", (str,), "\"cell\", \"run\" or \"none\""),
    "force": ("force", (bool,), "true or false"),
    "executor": ("executor", (str,), "\"local\" or \"dask\""),
    "scheduler": ("scheduler", (str,), "a Dask scheduler address like \"tcp://10.0.0.5:8786\""),
    "workers": ("workers", (int,), "a number of Dask workers >= 1"),
    "accuracy_only": ("accuracy_only", (bool,), "true or false"),
    "no_cache": ("no_cache", (bool,), "true or false"),
}
CHOICES = {"suite": ("standard", "full"), "track": ("closed", "open"), "isolate": ("cell", "run", "none"),
           "executor": ("local", "dask")}


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def load_run_config(path: str | Path) -> dict[str, Any]:
    """The ``[run]`` table of `path` as argparse defaults (destination -> value); UsageError on any problem."""
    path = Path(path)
    toml = _toml()
    try:
        with open(path, "rb") as fh:
            document = toml.load(fh)
    except FileNotFoundError:
        raise UsageError(f"--config {path} does not exist; give a TOML file with a [run] table") from None
    except IsADirectoryError:
        raise UsageError(f"--config {path} is a folder; give a TOML file with a [run] table") from None
    except OSError as exc:
        raise UsageError(f"cannot read --config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--config {path} is not UTF-8 text; give a TOML file with a [run] table") from None
    except toml.TOMLDecodeError as exc:
        raise UsageError(f"--config {path} is not valid TOML: {' '.join(str(exc).split())}") from None
    other = sorted(set(document) - {"run"})
    if other or not isinstance(document.get("run"), Mapping):
        found = f"; it has {', '.join(repr(k) for k in other)}" if other else ""
        raise UsageError(f"--config {path} needs exactly one [run] table{found}")
    return {KEYS[key][0]: value for key, value in _checked(path, document["run"]).items()}


def _checked(path: Path, table: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in KEYS:
            raise UsageError(f"--config {path}: unknown key {raw_key!r} in [run]; the keys are "
                             f"{', '.join(k.replace('_', '-') for k in KEYS)}")
        _, types, words = KEYS[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise UsageError(f"--config {path}: {raw_key} = {value!r} is not {words}")
        if key in ("task", "method", "backend") and not all(isinstance(v, str) and v.strip() for v in value):
            raise UsageError(f"--config {path}: {raw_key} = {value!r} is not {words}")
        if key in CHOICES and value not in CHOICES[key]:
            raise UsageError(f"--config {path}: {raw_key} = {value!r} is not {words}")
        if key == "seeds":
            if (not value or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
                    or len(set(value)) != len(value)):
                raise UsageError(f"--config {path}: {raw_key} = {value!r} is not {words}")
            value = tuple(value)
        if key == "seed" and value < 0:
            raise UsageError(f"--config {path}: {raw_key} = {value!r} is not {words}")
        out[key] = list(value) if key in ("task", "method", "backend") else value
    if "seed" in out and "seeds" in out:
        raise UsageError(f"--config {path}: give seed or seeds, not both")
    return out
