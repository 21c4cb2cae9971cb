"""Plugin discovery: built-ins, then installed entry points, then a plugins folder; allow/block lists; isolation.

Nothing here runs at import time: `load_plugins()` builds a fresh plugin manager on every call.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from benchsuite.discovery.registry import Registry
from benchsuite.errors import DuplicateNameError, PluginError, UsageError
from benchsuite.sdk import hookspecs
from benchsuite.sdk.interfaces import (
    FAMILIES,
    KERNELS,
    Backend,
    CompressionMethod,
    Task,
)

PROJECT = "benchsuite"
BUILTIN_DIST = "benchsuite"
ALLOW_ENV = "BENCHSUITE_PLUGINS_ALLOW"
BLOCK_ENV = "BENCHSUITE_PLUGINS_BLOCK"
PLUGINS_DIR_ENV = "BENCHSUITE_PLUGINS_DIR"

_HOOKS = (("method", "benchsuite_register_methods"),
          ("backend", "benchsuite_register_backends"),
          ("task", "benchsuite_register_tasks"))


@dataclass
class PluginInfo:
    """One discovered plugin and what became of it."""

    name: str
    source: str  # builtin | entry point | plugins dir
    dist: str
    version: str
    status: str = "loaded"  # loaded | failed | blocked | not allowed
    error: str = ""
    registers: list[str] = field(default_factory=list)


@dataclass
class Plugins:
    """The loaded plugins: the pluggy manager, the three registries, and a report per plugin."""

    manager: pluggy.PluginManager
    methods: Registry[type[CompressionMethod]]
    backends: Registry[type[Backend]]
    tasks: Registry[type[Task]]
    infos: dict[str, PluginInfo]
    #: how these were loaded (the plugins folder and the allow/block lists), so a worker process loads the same
    plugins_dir: str | None = None
    environ: dict[str, str] = field(default_factory=dict)

    def dist_of(self, plugin: str) -> tuple[str, str]:
        """(distribution, version) of the plugin that registered something."""
        info = self.infos[plugin]
        return info.dist, info.version


#: plugin names that only benchsuite's own distribution may use; the allow list never applies to them
BUILTIN_PREFIX = "builtin."


def _patterns(environ: Mapping[str, str], key: str) -> tuple[str, ...] | None:
    value = environ.get(key)
    if value is None or not value.strip():
        return None
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True)
class PluginLists:
    """The allow and block lists (``BENCHSUITE_PLUGINS_ALLOW`` / ``BENCHSUITE_PLUGINS_BLOCK``: comma-separated
    names or glob patterns). They decide which plugins load, and which stored rows the leaderboard and the
    `results` and `compare` commands show; one implementation for all of them."""

    allow: tuple[str, ...] | None = None
    block: tuple[str, ...] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> PluginLists:
        environ = os.environ if environ is None else environ
        return cls(_patterns(environ, ALLOW_ENV), _patterns(environ, BLOCK_ENV))

    def exclusion(self, name: str, *, builtin: bool) -> str | None:
        """Why the lists keep plugin `name` out: "blocked" (a block pattern matches), "not allowed" (an allow list
        is set, the plugin is not built in and no allow pattern matches); None when they let it in."""
        if self.block is not None and _matches(name, self.block):
            return "blocked"
        if self.allow is not None and not builtin and not _matches(name, self.allow):
            return "not allowed"
        return None

    def row_exclusion(self, method_plugin: object) -> str | None:
        """The same for a stored row's ``method_plugin``: a pipeline's plugins are joined by ' > ' and the row is
        out if any of them is ("blocked" first). Built-in means a name that starts with ``builtin.`` (reserved
        for benchsuite's own plugins). A row that names no plugin is "not allowed" when an allow list is set."""
        if not isinstance(method_plugin, str) or not method_plugin.strip():
            return "not allowed" if self.allow is not None else None
        reasons = {self.exclusion(name, builtin=name.startswith(BUILTIN_PREFIX))
                   for name in (part.strip() for part in method_plugin.split(" > "))}
        return "blocked" if "blocked" in reasons else "not allowed" if "not allowed" in reasons else None


def _warn_stderr(message: str) -> None:
    print(f"benchsuite: warning: {message}", file=sys.stderr)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    eps = list(importlib.metadata.entry_points(group=PROJECT))
    # built-ins first (they ship in benchsuite's own distribution), then third parties in a stable order
    return sorted(eps, key=lambda ep: (ep.dist is None or ep.dist.name != BUILTIN_DIST,
                                       ep.dist.name if ep.dist else "", ep.name))


def _plugin_files(plugins_dir: Path) -> list[Path]:
    if not plugins_dir.is_dir():
        raise UsageError(f"--plugins-dir {plugins_dir} is not a directory; pass a folder of plugin .py files")
    return sorted(p for p in plugins_dir.glob("*.py") if not p.name.startswith("_"))


def _import_file(path: Path) -> Any:
    module_name = "benchsuite_plugins_dir." + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _describe(exc: BaseException) -> str:
    """What a plugin raised, in one line: ``ValueError: its first line``; an exit as ``SystemExit(3)``."""
    if isinstance(exc, SystemExit):
        return f"{type(exc).__name__}({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def get_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with benchsuite's hook specifications and no plugins."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(plugins_dir: str | Path | None = None, *, strict: bool = False,
                 environ: Mapping[str, str] | None = None,
                 warn: Callable[[str], None] = _warn_stderr) -> Plugins:
    """Discover, load and register every plugin.

    :param plugins_dir: a folder whose ``*.py`` files are loaded as plugins (after entry points).
        Defaults to ``$BENCHSUITE_PLUGINS_DIR`` if set.
    :param strict: make a plugin that fails to load an error instead of a warning.
    :param environ: where ``BENCHSUITE_PLUGINS_ALLOW`` / ``BENCHSUITE_PLUGINS_BLOCK`` are read (default os.environ).
    :param warn: receives one line per plugin that failed and was skipped.
    """
    environ = os.environ if environ is None else environ
    lists = PluginLists.from_environ(environ)
    if plugins_dir is None and environ.get(PLUGINS_DIR_ENV):
        plugins_dir = environ[PLUGINS_DIR_ENV]
    pm = get_plugin_manager()
    infos: dict[str, PluginInfo] = {}
    failures: list[str] = []

    def fail(info: PluginInfo, message: str) -> None:
        info.status, info.error = "failed", message
        failures.append(message)
        if strict:
            raise PluginError(f"{message} (--strict-plugins is set)")
        warn(f"{message}; skipped (use --strict-plugins to make this fatal)")

    def admit(info: PluginInfo, load: Callable[[], Any]) -> None:
        if info.name in infos:
            other = infos[info.name]
            raise DuplicateNameError(f'two plugins are named "{info.name}": from {other.dist} and from {info.dist}; '
                                     "rename one or block one with BENCHSUITE_PLUGINS_BLOCK")
        infos[info.name] = info
        excluded = lists.exclusion(info.name, builtin=info.source == "builtin")
        if excluded is not None:
            info.status = excluded
            return
        if info.source != "builtin" and info.name.startswith(BUILTIN_PREFIX):
            # the leaderboard treats builtin.* rows as built-in (the allow list does not apply to them)
            fail(info, f'plugin "{info.name}" from {info.dist} uses the prefix "{BUILTIN_PREFIX}", which is reserved '
                       "for benchsuite's own plugins; rename its entry point or file")
            return
        try:
            pm.register(load(), name=info.name)
        except KeyboardInterrupt:  # the user's Ctrl-C, not the plugin's failure
            raise
        except BaseException as exc:  # a broken plugin must not take the host down: sys.exit() at import included
            fail(info, f'Error importing plugin "{info.name}": {_describe(exc)} (from {info.dist})')

    for ep in _entry_points():
        dist = ep.dist.name if ep.dist else "unknown"
        version = ep.dist.version if ep.dist else ""
        admit(PluginInfo(ep.name, "builtin" if dist == BUILTIN_DIST else "entry point", dist, version), ep.load)
    if plugins_dir is not None:
        for path in _plugin_files(Path(plugins_dir)):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            admit(PluginInfo(path.stem, "plugins dir", str(path), f"sha256:{digest}"),
                  lambda path=path: _import_file(path))

    plugins = Plugins(pm, Registry("method", CompressionMethod, failures), Registry("backend", Backend, failures),
                      Registry("task", Task, failures), infos, str(plugins_dir) if plugins_dir is not None else None,
                      {k: environ[k] for k in (ALLOW_ENV, BLOCK_ENV) if environ.get(k) is not None})
    _collect(plugins, fail)
    return plugins


def _collect(plugins: Plugins, fail: Callable[[PluginInfo, str], None]) -> None:
    """Call each plugin's register hooks; a plugin's registrations count only if all its hooks succeed."""
    registries = {"method": plugins.methods, "backend": plugins.backends, "task": plugins.tasks}
    for info in plugins.infos.values():
        if info.status != "loaded":
            continue
        staged: list[tuple[str, Any]] = []
        try:
            plugin = plugins.manager.get_plugin(info.name)
            for caller in plugins.manager.get_hookcallers(plugin) or ():
                if not caller.has_spec():
                    raise PluginError(f"implements unknown hook {caller.name}; "
                                      f"the hooks are {', '.join(h for _, h in _HOOKS)}")
            for kind, hook_name in _HOOKS:
                for impl in getattr(plugins.manager.hook, hook_name).get_hookimpls():
                    if impl.plugin_name == info.name:
                        impl.function(register=lambda obj, kind=kind: staged.append((kind, obj)))
            for kind, obj in staged:
                registries[kind].validate(obj, info.name)
                _check(kind, obj)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit from a hook too: the plugin's failure, not the host's
            plugins.manager.unregister(name=info.name)
            fail(info, f'plugin "{info.name}" failed to register: {_describe(exc)} (from {info.dist})')
            continue
        for kind, obj in staged:
            registries[kind].add(obj, info.name)
            info.registers.append(f"{kind}:{obj.name}")


def _check(kind: str, obj: Any) -> None:
    """Validate class-level declarations that a registry's base-class check cannot see."""
    if kind == "method":
        if obj.family not in FAMILIES:
            raise PluginError(f"method {getattr(obj, 'name', obj)!r} has family {obj.family!r}; "
                              f"use one of {', '.join(FAMILIES)}")
        unknown = sorted(set(obj.kernels) - set(KERNELS))
        if unknown:
            raise PluginError(f"method {getattr(obj, 'name', obj)!r} declares unknown kernels {unknown}; "
                              f"use names from {', '.join(KERNELS)}")
    if kind == "task":
        missing = [a for a in ("name", "modality", "version", "metric", "num_classes") if not hasattr(obj, a)]
        if missing:
            raise PluginError(f"task {obj.__name__} does not set {', '.join(missing)}")
