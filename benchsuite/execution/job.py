"""What one worker runs (a CellJob, with the CellOptions it is measured under) and what became of it (Outcome).

Plain data only: a job crosses a process boundary as JSON. Imports no torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from benchsuite.errors import UsageError
from benchsuite.measure.policy import TimingPolicy
from benchsuite.sdk.tracks import (
    CLOSED_BUDGET_CALIBRATION_SAMPLES,
    CLOSED_BUDGET_SECONDS,
    CLOSED_BUDGET_STEPS,
    TRACKS,
)

#: --quick evaluates on this many samples
QUICK_EVAL_SAMPLES = 256
#: --quick cuts every request for fine-tuning batches to this many steps
QUICK_FINETUNE_STEPS = 2


@dataclass(frozen=True)
class CellOptions:
    """How every cell of a run is compressed and measured (the part of `RunOptions` a worker needs).

    :param quick: small evaluation subset, short timing, fine-tuning capped; rows are marked `quick`.
    :param track: ``closed`` (at most the shared calibration and fine-tuning budget) or ``open`` (any budget).
    :param finetune_budget_steps: the most fine-tuning steps a configuration may take (all pipeline steps together).
    :param finetune_budget_seconds: the most wall seconds of fine-tuning; batches stop coming after it.
    """

    quick: bool = False
    track: str = "closed"
    finetune_budget_steps: int = CLOSED_BUDGET_STEPS
    finetune_budget_seconds: float = CLOSED_BUDGET_SECONDS
    timing: TimingPolicy = field(default_factory=TimingPolicy)
    #: re-evaluate each score from the saved compressed artifact (submissions)
    verify_artifact: bool = False
    #: where the artifact is saved for that check (a submission bundle's folder); None: a temporary folder
    artifact_dir: str | None = None
    #: measure latency and memory (``False``: `--accuracy-only`, rows say ``timed`` false)
    timed: bool = True
    #: reuse compressed models from the artifact cache, and store new ones there
    cache: bool = True

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise UsageError(f"unknown track {self.track!r}; use one of {', '.join(TRACKS)}")
        if self.track == "closed" and (self.finetune_budget_steps, self.finetune_budget_seconds) != (
                CLOSED_BUDGET_STEPS, CLOSED_BUDGET_SECONDS):
            raise UsageError(f"the closed track uses the shared budget of {CLOSED_BUDGET_STEPS} steps and "
                             f"{CLOSED_BUDGET_SECONDS:g} s; use --track open to set another")
        if self.finetune_budget_steps < 0:
            raise UsageError(f"--finetune-budget got {self.finetune_budget_steps}; it accepts an integer >= 0")
        if not self.finetune_budget_seconds > 0:
            raise UsageError(f"--finetune-budget-seconds got {self.finetune_budget_seconds:g}; "
                             "it accepts a number > 0")

    @property
    def calibration_budget_samples(self) -> int | None:
        """The most calibration samples a configuration may draw (all pipeline steps together); None: no limit.

        The track's, not an option: the closed track's shared budget, no limit on the open track.
        """
        return CLOSED_BUDGET_CALIBRATION_SAMPLES if self.track == "closed" else None

    @property
    def eval_limit(self) -> int | None:
        return QUICK_EVAL_SAMPLES if self.quick else None

    @property
    def timing_policy(self) -> TimingPolicy:
        return TimingPolicy.quick() if self.quick else self.timing

    def cell_options(self) -> CellOptions:
        """Just these options (a `RunOptions` sheds its run-level fields)."""
        return CellOptions(**{f.name: getattr(self, f.name) for f in fields(CellOptions)})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CellOptions:
        return cls(**{**raw, "timing": TimingPolicy(**raw["timing"])})


Config = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]


@dataclass(frozen=True)
class CellJob:
    """What one worker runs: a task, a method pipeline and a seed, measured on one or more backends."""

    task: str
    steps: Config
    seed: int
    backends: Config
    options: CellOptions = field(default_factory=CellOptions)
    #: intra-op threads while compressing (0: torch's default). Several Dask workers on one machine split its
    #: cores this way; the backends' timing and evaluation threads are not affected
    compress_threads: int = 0
    #: worker processes the job's timing is split among (TimingPolicy.processes, or 1 where the run cannot start
    #: more); each times with `timing_policy`'s share
    timing_processes: int = 1
    #: 0: the whole cell (compress, score, time); 1, 2, ...: another process's timing of the cell's model, loaded
    #: from the artifact cache (execution/passes.py)
    timing_pass: int = 0
    #: how the parent loaded its plugins, so the worker loads the same ones
    plugins_dir: str | None = None
    plugin_environ: tuple[tuple[str, str], ...] = ()

    @property
    def timing_policy(self) -> TimingPolicy:
        """The timing policy of one of this job's timing processes."""
        return self.options.timing_policy.in_processes(self.timing_processes)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CellJob:
        raw = json.loads(text)

        def pairs(items: Any) -> tuple:
            return tuple((str(k), v) for k, v in items)

        return cls(**{**raw, "steps": tuple((n, pairs(p)) for n, p in raw["steps"]),
                      "backends": tuple((n, pairs(p)) for n, p in raw["backends"]),
                      "options": CellOptions.from_dict(raw["options"]),
                      "plugin_environ": pairs(raw["plugin_environ"])})


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
        """The Outcome a ``result`` event reports (events.py)."""
        return cls(event["status"], event.get("error", ""), event.get("values", {}), event.get("cost", {}),
                   event.get("traceback", ""))


