"""The flat module paths plugins imported before the core moved into sub-packages (0.1 → 0.2), kept working.

``import benchsuite.training`` (or ``from benchsuite.reference import cached_model``) still gives the module
at its new home, with a DeprecationWarning naming it. Only modules a plugin had reason to import are here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

MOVED = {
    "benchsuite.hookspecs": "benchsuite.sdk.hookspecs",
    "benchsuite.interfaces": "benchsuite.sdk.interfaces",
    "benchsuite.params": "benchsuite.sdk.params",
    "benchsuite.training": "benchsuite.sdk.training",
    "benchsuite.reference": "benchsuite.sdk.reference",
    "benchsuite.paths": "benchsuite.sdk.paths",
    "benchsuite.hardware": "benchsuite.measure.hardware",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there (or from `benchsuite`)",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        pass  # the new module is already executed


def install() -> None:
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
