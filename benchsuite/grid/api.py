"""`benchsuite.run()`: a grid from Python, with the command line's spellings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchsuite.grid.options import RunOptions
from benchsuite.grid.orchestration import run_grid
from benchsuite.grid.planning import build_grid
from benchsuite.results.store import ResultStore


def run(tasks: Sequence[str] = (), methods: Sequence[str] = (), backends: Sequence[str] = (), *,
        store: str | None = None, quick: bool = False, seeds: Sequence[int] = (0,), suite: str = "standard",
        track: str = "closed", finetune_budget_steps: int | None = None,
        finetune_budget_seconds: float | None = None, plugins_dir: str | None = None,
        progress: bool = False, isolate: str = "cell", time_limit_seconds: float | None = None,
        memory_limit_bytes: int | None = None, force: bool = False, executor: str = "local",
        scheduler: str | None = None, workers: int | None = None, accuracy_only: bool = False,
        cache: bool = True) -> Any:
    """Run a grid from Python and return this call's rows as a DataFrame (also appended to the store).

    Arguments are spelled as on the command line: ``run(["mnist-cnn"], ["magnitude-pruning:sparsity=0.7"])``.
    Like ``benchsuite run``, each run executes in a worker process under the limits, and configurations the
    store already holds are not run again (nor returned) unless `force`. ``executor="dask"`` runs the cells on
    a Dask cluster (`scheduler`, an address) or on a LocalCluster of `workers` processes. The fine-tuning
    budgets default to the track's (the closed track's shared budget, or the same numbers on the open track).
    """
    from benchsuite.discovery.loader import load_plugins
    from benchsuite.execution.executors import make_executor
    from benchsuite.results.frames import to_frame

    options = RunOptions.of(quick=quick, seeds=tuple(seeds), track=track, finetune_budget_steps=finetune_budget_steps,
                            finetune_budget_seconds=finetune_budget_seconds, isolate=isolate,
                            time_limit_seconds=time_limit_seconds, memory_limit=memory_limit_bytes, force=force,
                            accuracy_only=accuracy_only, cache=cache)
    plugins = load_plugins(plugins_dir)
    grid = build_grid(plugins, tasks, methods, backends, suite=suite)
    runner = make_executor(executor, options.limits, options.isolate, scheduler, workers, progress, plugins)
    try:
        rows = run_grid(plugins, grid, options, ResultStore(store), progress=progress, executor=runner)
    finally:
        runner.close()
    return to_frame(rows, validate=False)  # every row was validated as it was built
