"""TODO docstring (runner.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchsuite.errors import UsageError
from benchsuite.execution.job import QUICK_EVAL_SAMPLES
from benchsuite.execution.limits import Limits
from benchsuite.measure.policy import TimingPolicy
from benchsuite.sdk.tracks import CLOSED_BUDGET_SECONDS, CLOSED_BUDGET_STEPS, TRACKS

ISOLATION = ("cell", "run", "none")


SUITES = ("standard", "full")


@dataclass(frozen=True)
class RunOptions:
    """How a grid is run.

    :param quick: small evaluation subset, short timing, fine-tuning capped; rows are marked `quick`.
    :param seeds: each seeds compression, fine-tuning and data order; a method that is not `deterministic`
        runs once per seed (deterministic ones and the baseline run once, with the first seed).
    :param track: ``closed`` (calibration plus at most the shared fine-tuning budget) or ``open`` (any budget).
    :param finetune_budget_steps: the most fine-tuning steps a configuration may take (all pipeline steps together).
    :param finetune_budget_seconds: the most wall seconds of fine-tuning; batches stop coming after it.
    """

    quick: bool = False
    seeds: tuple[int, ...] = (0,)
    track: str = "closed"
    finetune_budget_steps: int = CLOSED_BUDGET_STEPS
    finetune_budget_seconds: float = CLOSED_BUDGET_SECONDS
    timing: TimingPolicy = field(default_factory=TimingPolicy)
    #: ``cell``: one worker process per (task, method configuration, seed), each backend's measurement a phase
    #: with its own limits; ``run``: one worker per (task, method, backend); ``none``: in this process
    isolate: str = "cell"
    limits: Limits = field(default_factory=Limits)
    #: re-run configurations the store already holds (default: resume, skipping them)
    force: bool = False
    #: re-evaluate each score from the saved compressed artifact (submissions)
    verify_artifact: bool = False
    artifact_dir: str | None = None
    #: measure latency and memory (``False``: `--accuracy-only`, rows say ``timed`` false)
    timed: bool = True
    #: reuse compressed models from the artifact cache, and store new ones there
    cache: bool = True

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be distinct integers >= 0, got {list(self.seeds)}; e.g. --seeds 0,1,2")
        if self.track not in TRACKS:
            raise UsageError(f"unknown track {self.track!r}; use one of {', '.join(TRACKS)}")
        if self.track == "closed" and (self.finetune_budget_steps, self.finetune_budget_seconds) != (
                CLOSED_BUDGET_STEPS, CLOSED_BUDGET_SECONDS):
            raise UsageError(f"the closed track uses the shared budget of {CLOSED_BUDGET_STEPS} steps and "
                             f"{CLOSED_BUDGET_SECONDS:g} s; use --track open to set another")
        if self.isolate not in ISOLATION:
            raise UsageError(f"unknown isolation {self.isolate!r}; use one of {', '.join(ISOLATION)}")
        if self.finetune_budget_steps < 0 or not self.finetune_budget_seconds > 0:
            raise UsageError("fine-tuning budgets must be >= 0 steps and > 0 seconds")

    @property
    def eval_limit(self) -> int | None:
        return QUICK_EVAL_SAMPLES if self.quick else None

    @property
    def timing_policy(self) -> TimingPolicy:
        return TimingPolicy.quick() if self.quick else self.timing
