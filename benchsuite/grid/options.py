"""How a grid is run: RunOptions, built in one place (`RunOptions.of`) for the command line, `benchsuite.run()`
and ``--config`` files. Imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchsuite.errors import UsageError
from benchsuite.execution.job import CellOptions
from benchsuite.execution.limits import Limits, limits_of
from benchsuite.sdk.tracks import CLOSED_BUDGET_SECONDS, CLOSED_BUDGET_STEPS

#: ``cell``: one worker process per (task, method configuration, seed), each backend's measurement a phase with
#: its own limits; ``run``: one worker per (task, method, backend); ``none``: in this process
ISOLATION = ("cell", "run", "none")
SUITES = ("standard", "full")


@dataclass(frozen=True)
class RunOptions(CellOptions):
    """How a grid is run: the `CellOptions` every cell is measured under, plus what only the parent uses.

    :param seeds: each seeds compression, fine-tuning and data order; a method that is not `deterministic`
        runs once per seed (deterministic ones and the baseline run once, with the first seed).
    :param isolate: one of ISOLATION.
    :param limits: each worker's time and memory limits.
    :param force: re-run configurations the store already holds (default: resume, skipping them).
    """

    seeds: tuple[int, ...] = (0,)
    isolate: str = "cell"
    limits: Limits = field(default_factory=Limits)
    force: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be distinct integers >= 0, got {list(self.seeds)}; e.g. --seeds 0,1,2")
        if self.isolate not in ISOLATION:
            raise UsageError(f"unknown isolation {self.isolate!r}; use one of {', '.join(ISOLATION)}")

    @classmethod
    def of(cls, *, quick: bool = False, seeds: tuple[int, ...] = (0,), track: str = "closed",
           finetune_budget_steps: int | None = None, finetune_budget_seconds: float | None = None,
           isolate: str = "cell", time_limit_seconds: float | None = None, memory_limit: str | int | None = None,
           force: bool = False, accuracy_only: bool = False, cache: bool = True) -> RunOptions:
        """The options as the command line spells them (`--finetune-budget` only with `--track open`,
        `--memory-limit 8GiB`, `--accuracy-only`, `--no-cache`); every check is made here or in the dataclasses."""
        if track == "closed" and (finetune_budget_steps, finetune_budget_seconds) != (None, None):
            raise UsageError("--finetune-budget and --finetune-budget-seconds need --track open; "
                             "the closed track uses the shared budget")
        limits = limits_of(time_limit_seconds, memory_limit)
        return cls(quick=quick, seeds=tuple(seeds), track=track,
                   finetune_budget_steps=CLOSED_BUDGET_STEPS if finetune_budget_steps is None else finetune_budget_steps,
                   finetune_budget_seconds=(CLOSED_BUDGET_SECONDS if finetune_budget_seconds is None
                                            else finetune_budget_seconds),
                   isolate=isolate, limits=limits, force=force, timed=not accuracy_only, cache=cache)
