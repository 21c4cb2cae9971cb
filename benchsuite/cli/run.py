"""`benchsuite run` and `benchsuite submit`: a grid from the command line (or a --config file), and a submission."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchsuite.cli.results import format_table


def with_config(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> argparse.Namespace:
    """Parse again with the config file's values as the run command's defaults: the command line wins."""
    from benchsuite.grid.config_file import load_run_config

    defaults = load_run_config(args.config)
    if "--seed" in argv:
        defaults.pop("seeds", None)
    run_parser = next(action for action in parser._subparsers._group_actions
                      if isinstance(action, argparse._SubParsersAction)).choices["run"]
    run_parser.set_defaults(**defaults)
    return parser.parse_args(argv)


def load(args: argparse.Namespace) -> Any:
    from benchsuite.discovery.loader import load_plugins

    return load_plugins(args.plugins_dir, strict=args.strict_plugins)


def run_command(args: argparse.Namespace) -> int:
    import time

    from benchsuite.grid.options import RunOptions
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import build_grid, cell_count
    from benchsuite.results.frames import to_frame
    from benchsuite.results.store import ResultStore

    options = RunOptions.of(quick=args.quick, seeds=args.seeds or (args.seed,), track=args.track,
                            finetune_budget_steps=args.finetune_budget,
                            finetune_budget_seconds=args.finetune_budget_seconds, isolate=args.isolate,
                            time_limit_seconds=args.time_limit, memory_limit=args.memory_limit, force=args.force,
                            accuracy_only=args.accuracy_only, cache=not args.no_cache)
    from benchsuite.execution.executors import check_options, make_executor

    check_options(args.executor, args.isolate, args.scheduler, args.workers)  # before anything loads or starts
    plugins = load(args)
    grid = build_grid(plugins, args.task, args.method, args.backend, suite=args.suite)
    store = ResultStore(args.store)
    store.files()  # fail early on a bad --store, before any compute
    start = time.perf_counter()
    executor = make_executor(args.executor, options.limits, args.isolate, args.scheduler, args.workers,
                             progress=not args.no_progress, plugins=plugins)
    where = (f"; dask: {executor.worker_count} workers, dashboard {executor.dashboard}"
             if args.executor == "dask" else "")
    print(f"benchsuite: {len(grid)} runs: tasks {', '.join(grid.tasks)}; methods "
          f"{', '.join(c.spec for c in grid.methods)}; backends {', '.join(c.spec for c in grid.backends)}"
          f"{' (quick)' if args.quick else ''}{' (accuracy only)' if args.accuracy_only else ''}; {args.track} "
          f"track; store {store.path}{where}", file=sys.stderr)
    try:
        rows = run_grid(plugins, grid, options, store, progress=not args.no_progress, executor=executor)
    finally:
        executor.close()
    frame = to_frame(rows, validate=False)  # every row was validated as it was built
    if len(frame):
        print(format_table(frame))
    if len(options.seeds) > 1:
        from benchsuite.results.report import by_seed

        print("\nover seeds " + ",".join(map(str, options.seeds)) + ":\n" + format_table(by_seed(frame), False))
    counts = {status: int((frame["status"] == status).sum()) for status in ("ok", "failed", "timeout", "crashed",
                                                                         "skipped")}
    resumed = cell_count(plugins, grid, options) - len(frame)
    bad = counts["failed"] + counts["timeout"] + counts["crashed"]
    print(f"benchsuite: {len(frame)} runs in {time.perf_counter() - start:.0f} s: "
          + ", ".join(f"{n} {status}" for status, n in counts.items())
          + (f"; {resumed} already in the store, not re-run (--force re-runs them)" if resumed else "")
          + f"; stored in {store.path}"
          + (f"; tracebacks in {store.path / 'tracebacks'}" if bad else ""), file=sys.stderr)
    return 1 if bad else 0


def submit_command(args: argparse.Namespace) -> int:
    from benchsuite.execution.limits import limits_of
    from benchsuite.submissions.bundle import submit

    limits = limits_of(args.time_limit, args.memory_limit)
    made = submit(load(args), args.method, tasks=args.task, output=args.output, quick=args.quick,
                  keep_artifacts=args.keep_artifacts, limits=limits, allow_builtin=args.allow_builtin,
                  progress=not args.no_progress)
    if len(made.frame):
        print(format_table(made.frame))
    print(f"benchsuite: {made.summary()}", file=sys.stderr)
    return 1 if made.bad else 0
