"""TODO docstring (cell.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsuite.errors import BenchsuiteError
from benchsuite.measure.policy import TimingPolicy

QUICK_EVAL_SAMPLES = 256


QUICK_FINETUNE_STEPS = 2


@dataclass(frozen=True)
class CellJob:
    """What one worker runs: a task, a method pipeline and a seed, measured on one or more backends.

    Everything is plain data (names and JSON-able parameters), so a job crosses a process boundary as JSON.
    """

    task: str
    steps: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    seed: int
    backends: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    quick: bool = False
    track: str = "closed"
    finetune_budget_steps: int = 500
    finetune_budget_seconds: float = 900.0
    timing: tuple[tuple[str, Any], ...] = ()
    #: re-evaluate the score from the saved compressed artifact (`benchsuite submit`)
    verify_artifact: bool = False
    #: where the artifact is saved for that check (a submission bundle's folder); None: a temporary folder
    artifact_dir: str | None = None
    #: measure latency and memory; False: score, size and FLOPs only (`--accuracy-only`)
    timed: bool = True
    #: load the compressed model from the artifact cache when it holds it, else store it there
    cache: bool = False
    #: intra-op threads while compressing (0: torch's default). Several Dask workers on one machine split its
    #: cores this way; the backends' timing and evaluation threads are not affected
    compress_threads: int = 0
    #: how the parent loaded its plugins, so the worker loads the same ones
    plugins_dir: str | None = None
    plugin_environ: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CellJob:
        raw = json.loads(text)

        def pairs(items: Any) -> tuple:
            return tuple((str(k), v) for k, v in items)

        return cls(**{**raw, "steps": tuple((n, pairs(p)) for n, p in raw["steps"]),
                      "backends": tuple((n, pairs(p)) for n, p in raw["backends"]),
                      "timing": pairs(raw["timing"]), "plugin_environ": pairs(raw["plugin_environ"])})

    @property
    def eval_limit(self) -> int | None:
        return QUICK_EVAL_SAMPLES if self.quick else None

    @property
    def timing_policy(self) -> TimingPolicy:
        return TimingPolicy.quick() if self.quick else TimingPolicy(**dict(self.timing))


@dataclass(frozen=True)
class Outcome:
    """What became of one backend's run: a status, a one-line reason, and the measured values."""

    status: str  # ok | failed | skipped | timeout | crashed
    error: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    cost: Mapping[str, Any] = field(default_factory=dict)
    traceback: str = ""


    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Outcome:
        """The Outcome a ``result`` event reports."""
        return cls(event["status"], event.get("error", ""), event.get("values", {}), event.get("cost", {}),
                   event.get("traceback", ""))


Events = Callable[[dict[str, Any]], None]


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, BenchsuiteError) else text
