"""A strict, typed registry: checks the base class, refuses duplicates, suggests near names."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from benchsuite.errors import DuplicateNameError, PluginError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered class and the plugin that registered it."""

    name: str
    obj: T
    plugin: str


class Registry(Generic[T]):
    """Name -> class, for one kind of plugin object (method, backend or task)."""

    def __init__(self, kind: str, base: type, failures: list[str] | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, Entry[T]] = {}
        #: why plugins failed to load (the loader shares one list among its registries): an unknown name may be theirs
        self.failures = failures if failures is not None else []

    def add(self, obj: T, plugin: str) -> Entry[T]:
        """Register `obj` for `plugin`; the name comes from ``obj.name``."""
        name = self.validate(obj, plugin)
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateNameError(f"{self.kind} '{name}' is registered by both plugin \"{other}\" and "
                                     f"plugin \"{plugin}\"; block one with BENCHSUITE_PLUGINS_BLOCK")
        entry = Entry(name, obj, plugin)
        self._entries[name] = entry
        return entry

    def validate(self, obj: object, plugin: str) -> str:
        """Check that `obj` may be registered here; return its name."""
        if not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise PluginError(f'plugin "{plugin}" registered {obj!r} as a {self.kind}; '
                              f"it must be a subclass of benchsuite.{self.base.__name__}")
        name = getattr(obj, "name", None)
        # printable: a name is shown on one line in terminals, tables and the leaderboard, never as markup
        if not isinstance(name, str) or not name or not name.isprintable() or any(c in name for c in ":,>= \t"):
            raise PluginError(f'plugin "{plugin}" registered a {self.kind} with an invalid name {name!r}; '
                              "use a non-empty name of printable characters without spaces, ':', ',', '>' or '='")
        return name

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        available = sorted(self._entries)
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        failed = f" A plugin that failed to load may have registered it: {'; '.join(self.failures)}." if (
            self.failures) else ""
        return f"Unknown {self.kind} '{name}'.{hint}{failed} Available: {', '.join(available) or 'none'}"

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
