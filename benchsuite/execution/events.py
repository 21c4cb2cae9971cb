"""The worker event protocol: what a running cell reports, written in one place and read in one place.

A cell (cell.py) reports each phase as an event; a worker process (worker.py) appends them to a file as JSON
lines, and the parent (isolation.py) reads them back with `Phases`, which knows the phase the worker is in (for
its time limit and for naming what a crash interrupted) and collects each backend's `Outcome`. The in-process
mode feeds the same `Phases` directly. The events, in order:

- ``compressing``; then ``compressed`` with the compression ``cost`` (or a ``result`` for every backend when
  compression failed or the method refused);
- per backend: ``measuring`` with its index, then ``result`` with ``backend``, ``status``, ``error``,
  ``values``, ``cost`` and ``traceback``;
- ``waiting`` / ``resumed`` around any time the worker queues for the machine (hostlock.py): not its own time;
- from a worker only: ``setup_failed`` (the task could not be set up) or, at the end, ``done``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from benchsuite.execution.job import Outcome

Event = dict[str, Any]
Events = Callable[[Event], None]
#: a phase: "setup" | "compress" | "between" (measurements) | the index of the backend being measured
Phase = str | int


def compressing() -> Event:
    return {"event": "compressing"}


def compressed(cost: Mapping[str, Any]) -> Event:
    return {"event": "compressed", "cost": dict(cost)}


def measuring(backend: int) -> Event:
    return {"event": "measuring", "backend": backend}


def result(backend: int, status: str, error: str = "", values: Mapping[str, Any] | None = None,
           cost: Mapping[str, Any] | None = None, traceback: str = "") -> Event:
    event: Event = {"event": "result", "backend": backend, "status": status, "error": error}
    if values is not None:
        event["values"] = dict(values)
    if cost is not None:
        event["cost"] = dict(cost)
    if traceback:
        event["traceback"] = traceback
    return event


def waiting(is_waiting: bool) -> Event:
    return {"event": "waiting" if is_waiting else "resumed"}


def setup_failed(error: str, traceback: str) -> Event:
    return {"event": "setup_failed", "error": error, "traceback": traceback}


def done() -> Event:
    return {"event": "done"}


def encode(event: Event) -> str:
    """One JSON line (numpy scalars as plain numbers)."""
    return json.dumps(event, default=_jsonable) + "\n"


def decode(lines: bytes) -> list[Event]:
    """The events of complete JSON lines."""
    return [json.loads(line) for line in lines.splitlines()]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot record a value of type {type(value).__name__}")


class Phases:
    """What a cell's events said so far: its phase and when that began (queueing for the machine left out), the
    compression cost, each backend's outcome, and whether set-up failed or the worker said it was done."""

    def __init__(self, backends: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.phase: Phase = "setup"
        self.phase_start = clock()
        #: the worker is queued for the machine since then (None: it is not)
        self.waiting_since: float | None = None
        self.cost: dict[str, Any] = {}
        self.results: list[Outcome | None] = [None] * backends
        self.setup_error: tuple[str, str] | None = None
        self.done = False

    def __call__(self, event: Event) -> None:
        """Take one event (so a Phases is itself an `Events` callback)."""
        kind, now = event["event"], self.clock()
        if kind == "waiting":
            self.waiting_since = now
        elif kind == "resumed":
            if self.waiting_since is not None:
                self.phase_start += now - self.waiting_since  # the queueing is not the phase's
            self.waiting_since = None
        elif kind == "compressing":
            self.phase, self.phase_start = "compress", now
        elif kind == "compressed":
            self.cost = event["cost"]
            self.phase, self.phase_start = "between", now
        elif kind == "measuring":
            self.phase, self.phase_start = event["backend"], now
        elif kind == "result":
            self.results[event["backend"]] = Outcome.from_event(event)
            self.phase, self.phase_start = "between", now
        elif kind == "setup_failed":
            self.setup_error = (event["error"], event.get("traceback", ""))
        elif kind == "done":
            self.done = True
        else:
            raise ValueError(f"unknown worker event {kind!r}")

    def take(self, events: Iterable[Event]) -> None:
        for event in events:
            self(event)

    def phase_seconds(self) -> float:
        """How long the current phase has run, time queued for the machine left out."""
        return (self.waiting_since if self.waiting_since is not None else self.clock()) - self.phase_start

    def wait_seconds(self) -> float:
        """How long the current wait for the machine has lasted (0 when not waiting)."""
        return 0.0 if self.waiting_since is None else self.clock() - self.waiting_since

    def describe(self, backend_names: list[str], gerund: bool = False) -> str:
        """The phase in words: "compression", "measuring on torch-cpu", ..."""
        phase = self.phase
        if phase == "setup":
            return "setting up the task" if gerund else "task setup"
        if phase == "compress":
            return "compressing" if gerund else "compression"
        if phase == "between":
            return "between measurements" if gerund else "the worker"
        return f"measuring on {backend_names[phase]}" if gerund else f"measurement on {backend_names[phase]}"
