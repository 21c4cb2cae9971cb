"""The three benchsuite hooks. Each only registers; the core calls what was registered later, one run at a time."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("benchsuite")


@hookspec
def benchsuite_register_methods(register: Callable[[type], None]) -> None:
    """Register compression methods.

    :param register: call ``register(MyMethod)`` once per `benchsuite.CompressionMethod` subclass.
    """


@hookspec
def benchsuite_register_backends(register: Callable[[type], None]) -> None:
    """Register inference backends.

    :param register: call ``register(MyBackend)`` once per `benchsuite.Backend` subclass.
    """


@hookspec
def benchsuite_register_tasks(register: Callable[[type], None]) -> None:
    """Register benchmark tasks.

    :param register: call ``register(MyTask)`` once per `benchsuite.Task` subclass.
    """
