"""The command line: a thin layer over the library. Every BenchsuiteError becomes one line and an exit code."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import BenchsuiteError, UsageError

RESULT_FORMATS = ("table", "csv", "json", "parquet", "pytest-benchmark")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        print(f"benchsuite: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers like 0,1,2, not {text!r}") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds takes distinct integers >= 0, not {text!r}")
    return seeds


def _parser() -> argparse.ArgumentParser:
    plugin_opts = argparse.ArgumentParser(add_help=False)
    plugin_opts.add_argument("--plugins-dir", metavar="DIR", help="also load every *.py plugin file in DIR")
    plugin_opts.add_argument("--strict-plugins", action="store_true",
                             help="fail when a plugin cannot be loaded (default: warn and skip it)")
    store_opt = argparse.ArgumentParser(add_help=False)
    store_opt.add_argument("--store", metavar="DIR",
                           help="results folder (default: $BENCHSUITE_STORE or the user data folder)")

    parser = _Parser(prog="benchsuite", description="Benchmark model compression methods: accuracy and realized "
                     "speed, size and memory of the same model on the same hardware.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", parents=[plugin_opts, store_opt], help="run a benchmark grid",
                         description="Run task × method × backend. With no selection: the standard suite.")
    run.add_argument("--task", action="append", default=[], metavar="T", help="task name (repeatable)")
    run.add_argument("--method", action="append", default=[], metavar="M",
                     help="method spec NAME[:key=value,...] (repeatable), e.g. magnitude-pruning:sparsity=0.7")
    run.add_argument("--backend", action="append", default=[], metavar="B",
                     help="backend spec NAME[:key=value,...] (repeatable), e.g. torch-cpu:threads=1")
    run.add_argument("--quick", action="store_true",
                     help="smoke test: 256 eval samples, short timing, 2 fine-tune steps; rows marked quick")
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="seed for compression and data order (default 0)")
    seeds.add_argument("--seeds", type=_seed_list, metavar="S,S,...",
                       help="run every method that is not deterministic once per seed (e.g. 0,1,2); "
                            "`benchsuite results --by-seed` then gives mean and 95%% interval")
    run.add_argument("--suite", choices=("standard", "full"), default="standard",
                     help="with no --method: each built-in method's headline configuration (standard) or its "
                          "whole documented sweep too (full)")
    run.add_argument("--track", choices=("closed", "open"), default="closed",
                     help="closed: calibration + the shared fine-tuning budget (500 steps, 900 s); "
                          "open: any budget, recorded")
    run.add_argument("--finetune-budget", type=int, metavar="STEPS",
                     help="open track: most fine-tuning steps per configuration")
    run.add_argument("--finetune-budget-seconds", type=float, metavar="S",
                     help="open track: most fine-tuning wall seconds per configuration")
    run.add_argument("--no-progress", action="store_true", help="no progress bars or per-run lines")
    run.add_argument("--time-limit", type=float, metavar="S", default=None,
                     help="wall seconds each phase of a run may take (task setup, compression, each backend's "
                          "measurement) before its worker is killed and the run recorded as timeout (default 1800)")
    run.add_argument("--memory-limit", metavar="SIZE", default=None,
                     help="resident memory a run's worker (with its children) may hold before it is killed and "
                          "the run recorded as crashed, e.g. 8GiB (default: 75%% of physical memory)")
    run.add_argument("--isolate", choices=("cell", "run", "none"), default="cell",
                     help="cell: a worker process per (task, method, seed), compressing once for all backends "
                          "(default); run: a worker per (task, method, backend); none: in this process, no limits")
    run.add_argument("--config", metavar="FILE",
                     help="read options from the [run] table of a TOML file (keys: the long options); the command "
                          "line overrides it, and adds to its task, method and backend lists")
    run.add_argument("--force", action="store_true",
                     help="re-run configurations the store already holds (default: resume, skipping them)")
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="local: cells one after another on this machine (default); dask: cells in parallel on a "
                          "Dask cluster, rows streamed into the store as each finishes")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --executor dask: an existing cluster's scheduler, e.g. tcp://10.0.0.5:8786 "
                          "(default: start a LocalCluster on this machine)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="with --executor dask: LocalCluster worker processes (default 2), or, with --scheduler, "
                          "wait until the cluster has N workers")
    run.add_argument("--accuracy-only", action="store_true",
                     help="score, size and FLOPs only, no latency or memory measurement (sweeps); rows say "
                          "timed=false and the leaderboard does not rank them")
    run.add_argument("--no-cache", action="store_true",
                     help="compress every configuration anew instead of loading it from the artifact cache")

    results = sub.add_parser("results", parents=[store_opt], help="print or export stored results")
    results.add_argument("--format", choices=RESULT_FORMATS, default="table",
                         help="pytest-benchmark: JSON that `pytest-benchmark compare` reads (latency samples)")
    results.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    results.add_argument("--by-seed", action="store_true",
                         help="table: one line per configuration, mean and 95%% interval over its seeds")

    compare = sub.add_parser("compare", help="compare two sets of results; exit 1 on a regression",
                             description="Compare configurations present in both OLD and NEW (store folders or "
                                         "exported .parquet/.csv/.json files): latency on the same hardware, "
                                         "speedup across machines, and score.")
    compare.add_argument("old", metavar="OLD")
    compare.add_argument("new", metavar="NEW")
    compare.add_argument("--fail-on-regression", type=float, metavar="PCT", default=None,
                         help="exit 1 when a configuration got more than PCT%% slower or less accurate")

    validate = sub.add_parser("validate", parents=[plugin_opts], help="check the timing harness: agreement, overhead, repeatability",
                              description="Time each task's reference model with benchsuite's harness and with "
                                          "torch.utils.benchmark.Timer (must agree within 5%%), measure the "
                                          "harness overhead with a no-op call, and the CV of p50 over repeats.")
    validate.add_argument("--task", action="append", default=[], metavar="T", help="task name (repeatable)")
    validate.add_argument("--repeats", type=int, default=5, help="timings for the repeatability CV (default 5)")
    validate.add_argument("--rounds", type=int, default=5,
                          help="alternating rounds of the two timers for the agreement check (default 5)")
    validate.add_argument("--threads", type=int, default=None,
                          help="intra-op threads while checking (default: this machine's default)")
    validate.add_argument("--quick", action="store_true", help="short timings (a smoke test; figures are noisy)")

    tasks = sub.add_parser("tasks", parents=[plugin_opts], help="list tasks, or show one task's card")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", parser_class=_Parser)
    tasks_sub.add_parser("list", parents=[plugin_opts], help="every task: version, modality, metric, availability")
    show = tasks_sub.add_parser("show", parents=[plugin_opts], help="one task's card: data, license, splits, "
                                "checksums, reference model, metric, preprocessing, version")
    show.add_argument("name", metavar="NAME")

    plugins = sub.add_parser("plugins", parents=[plugin_opts], help="list plugins and what they register")
    plugins.add_argument("--verbose", "-v", action="store_true", help="also list parameters and standard configs")

    store = sub.add_parser("store", help="check and repair the results store")
    store_sub = store.add_subparsers(dest="store_command", metavar="COMMAND", required=True, parser_class=_Parser)
    check = store_sub.add_parser("check", parents=[store_opt], help="find unreadable files, leftover temporary "
                                 "files, invalid and duplicate rows; exit 1 if any",
                                 description="Check every file of the store. With --fix, under the store lock: "
                                             "move unreadable files and the originals of files with bad or duplicate "
                                             "rows into <store>/quarantine/<UTC time>/ (nothing is deleted), "
                                             "rewrite those files without the bad rows, remove temporary files "
                                             "older than 10 minutes.")
    check.add_argument("--fix", action="store_true", help="quarantine what is wrong (files of a newer schema stay)")
    imported = store_sub.add_parser("import", parents=[store_opt], help="check a submission bundle and merge its "
                                    "rows into the store; exit 2 and write nothing if any check fails",
                                    description="Check a bundle written by `benchsuite submit` (manifest, hashes, "
                                                "schema, plugin, integrity, artifacts, headline numbers against raw "
                                                "data) and append its rows under the store lock. Rows the store "
                                                "already holds (same run_id and run_key) are not added again.")
    imported.add_argument("bundle", metavar="BUNDLE", help="the bundle folder")

    submit = sub.add_parser("submit", parents=[plugin_opts], help="run the standard suite for one new method and "
                            "write a submission bundle",
                            description="Run METHOD's standard configurations and the baseline on the standard "
                                        "tasks and every available backend (closed track, a worker per cell, every "
                                        "score re-evaluated from the saved weights) and write a bundle folder: "
                                        "results.parquet, manifest.json (hashes, plugin, environment), artifacts.")
    submit.add_argument("method", metavar="METHOD", help="a method registered by a plugin")
    submit.add_argument("--output", metavar="DIR", help="new or empty folder for the bundle "
                        "(default ./submission-METHOD-<UTC time>)")
    submit.add_argument("--task", action="append", default=[], metavar="T",
                        help="task name (repeatable; default: the standard tasks)")
    submit.add_argument("--quick", action="store_true", help="smoke test: small evaluation, short timing; rows "
                        "marked quick")
    submit.add_argument("--keep-artifacts", action="store_true",
                        help="keep the saved weights in the bundle (default: hashed, then deleted)")
    submit.add_argument("--time-limit", type=float, metavar="S", default=None,
                        help="wall seconds each phase of a run may take (default 1800)")
    submit.add_argument("--memory-limit", metavar="SIZE", default=None,
                        help="resident memory a run's worker may hold, e.g. 8GiB (default: 75%% of physical memory)")
    submit.add_argument("--allow-builtin", action="store_true",
                        help="also submit a method that ships with benchsuite (for testing)")
    submit.add_argument("--no-progress", action="store_true", help="no progress bars or per-run lines")

    board = sub.add_parser("leaderboard", parents=[store_opt], help="serve the Streamlit leaderboard")
    board.add_argument("--port", type=int, default=8501)
    board.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")

    cache = sub.add_parser("cache", help="list or prune cached reference and compressed models")
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="COMMAND", required=True, parser_class=_Parser)
    cache_sub.add_parser("list", help="every cached model: kind, size, last use, what it is, stale or not",
                         description="List the artifact cache ($BENCHSUITE_CACHE or the user cache folder): "
                                     "reference models and compressed models, least recently used first.")
    prune = cache_sub.add_parser("prune", help="remove stale cached models, and more if asked",
                                 description="Remove compressed models no run of this benchsuite can use again "
                                             "(another benchsuite or torch version) and leftover temporary files; "
                                             "the options remove more.")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="also those unused for DAYS days")
    prune.add_argument("--max-size", metavar="SIZE",
                       help="then the least recently used until the rest fit in SIZE, e.g. 5GiB")
    prune.add_argument("--all", action="store_true", help="every entry of the kinds chosen")
    prune.add_argument("--reference", action="store_true",
                       help="also reference models (rebuilt on next use; mnist-cnn trains for about 1.5 minutes)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")

    scaffold = sub.add_parser("new-plugin", help="write a method plugin package to start from",
                              description="Write benchsuite-NAME/: pyproject.toml with the entry point, README.md, "
                                          "a working method module (global magnitude pruning, to replace with "
                                          "yours) and an end-to-end test. It installs and passes as is.")
    scaffold.add_argument("name", metavar="NAME", help="the method name, e.g. my-pruning (lowercase letters, "
                          "digits, hyphens)")
    scaffold.add_argument("--output", metavar="DIR", help="new or empty folder to write (default ./benchsuite-NAME)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run" and args.config:
            args = _with_config(parser, args, sys.argv[1:] if argv is None else list(argv))
        return {"run": _run, "results": _results, "plugins": _plugins, "leaderboard": _leaderboard,
                "compare": _compare, "validate": _validate, "tasks": _tasks,
                "new-plugin": _new_plugin, "store": _store, "submit": _submit, "cache": _cache}[args.command](args)
    except BenchsuiteError as exc:
        print(f"benchsuite: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("benchsuite: interrupted; rows already measured are kept in the store", file=sys.stderr)
        return 130


def _with_config(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> argparse.Namespace:
    """Parse again with the config file's values as the run command's defaults: the command line wins."""
    from .runconfig import load_run_config

    defaults = load_run_config(args.config)
    if "--seed" in argv:
        defaults.pop("seeds", None)
    run_parser = next(action for action in parser._subparsers._group_actions
                      if isinstance(action, argparse._SubParsersAction)).choices["run"]
    run_parser.set_defaults(**defaults)
    return parser.parse_args(argv)


def _load(args: argparse.Namespace) -> Any:
    from .plugins import load_plugins

    return load_plugins(args.plugins_dir, strict=args.strict_plugins)


def _format_table(frame: Any, summarize: bool = True) -> str:
    import pandas as pd

    from .report import printable_frame, summary_frame

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.float_format", "{:.4g}".format):
        return printable_frame(summary_frame(frame) if summarize else frame).to_string(index=False)


def _visible(frame: Any) -> Any:
    """The rows the plugin allow/block lists let through; one line on stderr says how many were hidden and why."""
    from .report import hidden_rows_note, hide_excluded_plugins

    kept, hidden = hide_excluded_plugins(frame)
    if hidden:
        print(f"benchsuite: {hidden_rows_note(hidden)} (unset the variables to see them)", file=sys.stderr)
    return kept


def _run(args: argparse.Namespace) -> int:
    import time

    from .runner import RunOptions, build_grid, cell_count, run_grid
    from .store import ResultStore, to_frame

    budget = {}
    if args.finetune_budget is not None or args.finetune_budget_seconds is not None:
        if args.track == "closed":
            raise UsageError("--finetune-budget and --finetune-budget-seconds need --track open; "
                             "the closed track uses the shared budget")
        if args.finetune_budget is not None:
            if args.finetune_budget < 0:
                raise UsageError(f"--finetune-budget got {args.finetune_budget}; it accepts an integer >= 0")
            budget["finetune_budget_steps"] = args.finetune_budget
        if args.finetune_budget_seconds is not None:
            if not args.finetune_budget_seconds > 0:
                raise UsageError(f"--finetune-budget-seconds got {args.finetune_budget_seconds:g}; "
                                 "it accepts a number > 0")
            budget["finetune_budget_seconds"] = args.finetune_budget_seconds
    from .isolation import limits_of

    limits = limits_of(args.time_limit, args.memory_limit)
    options = RunOptions(quick=args.quick, seeds=args.seeds or (args.seed,), track=args.track, isolate=args.isolate,
                         limits=limits, force=args.force, timed=not args.accuracy_only, cache=not args.no_cache,
                         **budget)
    from .executors import check_options, make_executor

    check_options(args.executor, args.isolate, args.scheduler, args.workers)  # before anything loads or starts
    plugins = _load(args)
    grid = build_grid(plugins, args.task, args.method, args.backend, suite=args.suite)
    store = ResultStore(args.store)
    store.files()  # fail early on a bad --store, before any compute
    start = time.perf_counter()
    executor = make_executor(args.executor, limits, args.isolate, args.scheduler, args.workers,
                             progress=not args.no_progress)
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
    frame = to_frame(rows)
    if len(frame):
        print(_format_table(frame))
    if len(options.seeds) > 1:
        from .report import by_seed

        print("\nover seeds " + ",".join(map(str, options.seeds)) + ":\n" + _format_table(by_seed(frame), False))
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


def _cache(args: argparse.Namespace) -> int:
    from .artifacts import COMPRESSED, REFERENCE, ArtifactCache
    from .isolation import parse_memory
    from .paths import cache_dir

    cache = ArtifactCache(cache_dir())
    if args.cache_command == "list":
        entries = cache.entries()
        for e in entries:
            note = f"  [stale: {e.stale}]" if e.stale else ""
            print(f"{e.kind:<10} {e.size_bytes / 1e6:9.1f} MB  used {e.last_used:%Y-%m-%d %H:%M}  {e.key[:12]}  "
                  f"{e.description}{note}")
        total = sum(e.size_bytes for e in entries)
        print(f"{len(entries)} entries, {total / 1e6:.1f} MB in {cache.root}")
        return 0
    if args.older_than is not None and not args.older_than >= 0:
        raise UsageError(f"--older-than got {args.older_than:g}; give a number of days >= 0, e.g. 30")
    max_size = None
    if args.max_size is not None:
        try:
            max_size = parse_memory(args.max_size)
        except UsageError:
            raise UsageError(f"--max-size got {args.max_size!r}; give a size like 5GiB or 500MB") from None
    kinds = (COMPRESSED, REFERENCE) if args.reference else (COMPRESSED,)
    removed = cache.prune(kinds=kinds, everything=args.all, older_than_days=args.older_than,
                          max_size_bytes=max_size, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for e in removed:
        print(f"{verb} {e.kind} {e.key[:12]} {e.description} ({e.size_bytes / 1e6:.1f} MB)"
              + (f" [stale: {e.stale}]" if e.stale else ""))
    freed = sum(e.size_bytes for e in removed)
    print(f"{verb} {len(removed)} {'entry' if len(removed) == 1 else 'entries'}, {freed / 1e6:.1f} MB, "
          f"from {cache.root}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from .store import ResultStore

    frame = _visible(ResultStore(args.store).read())
    if args.format == "parquet" and not args.output:
        raise UsageError("--format parquet writes binary; add --output FILE")
    if args.by_seed and args.format != "table":
        raise UsageError("--by-seed is a table view; drop --format or use --format table")
    if args.format == "table":
        if not len(frame):
            text = "no results in the store yet; run `benchsuite run`"
        elif args.by_seed:
            from .report import by_seed

            text = _format_table(by_seed(frame), summarize=False)
        else:
            text = _format_table(frame)
    elif args.format == "pytest-benchmark":
        import json

        from .report import pytest_benchmark_json

        text = json.dumps(pytest_benchmark_json(frame), indent=1)
    elif args.format == "csv":
        text = frame.to_csv(index=False)
    elif args.format == "json":
        text = frame.to_json(orient="records", date_format="iso", indent=1)
    else:
        text = None
    if args.output:
        try:
            if text is None:
                frame.to_parquet(args.output, index=False)
            else:
                Path(args.output).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --output {args.output}: {exc.strerror}") from None
        print(f"benchsuite: wrote {len(frame)} rows to {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .report import compare, read_results

    threshold = args.fail_on_regression
    table = compare(_visible(read_results(args.old)), _visible(read_results(args.new)),
                    0.0 if threshold is None else threshold)
    if table.empty:
        print(f"benchsuite: no configuration is in both {args.old} and {args.new}", file=sys.stderr)
        return 0
    shown = table if threshold is not None else table.drop(columns="regression")
    print(_format_table(shown, summarize=False))
    if threshold is None:
        return 0
    regressions = int(table["regression"].sum())
    print(f"benchsuite: {regressions} of {len(table)} configurations regressed by more than {threshold:g}%",
          file=sys.stderr)
    return 1 if regressions else 0


def _validate(args: argparse.Namespace) -> int:
    from .validate import AGREEMENT_TOLERANCE, check_tasks

    if args.repeats < 2:
        raise UsageError(f"--repeats got {args.repeats}; the coefficient of variation needs at least 2")
    if args.rounds < 1:
        raise UsageError(f"--rounds got {args.rounds}; give at least 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads got {args.threads}; give at least 1, or leave it out for the default")
    plugins = _load(args)
    table = check_tasks(plugins, args.task or plugins.tasks.names(), args.repeats, args.quick, threads=args.threads,
                        rounds=args.rounds, echo=lambda line: print(line, flush=True))
    print(_format_table(table, summarize=False))
    failed = int((~table["agrees"]).sum())
    if failed:
        print(f"benchsuite: {failed} timing(s) disagree with torch.utils.benchmark by more than "
              f"{AGREEMENT_TOLERANCE:.0%}", file=sys.stderr)
    return 1 if failed else 0


def _tasks(args: argparse.Namespace) -> int:
    from .taskcard import TaskCard

    plugins = _load(args)
    if args.tasks_command == "show":
        from .report import printable

        print(printable(TaskCard.of(plugins.tasks.get(args.name)()).text(), newlines=True))
        return 0
    for entry in plugins.tasks:
        task = entry.obj()
        available = task.availability()
        state = "available" if available.ok else f"unavailable: {available.reason}"
        _say(f"{entry.name:<28} v{task.version:<4} {task.modality:<7} {task.metric.name:<16} {state}")
    return 0


def _say(line: str) -> None:
    """Print one line that holds plugin-supplied text: control characters (newlines included) as escapes."""
    from .report import printable

    print(printable(line))


def _plugins(args: argparse.Namespace) -> int:
    from .params import format_spec

    plugins = _load(args)
    width = max(len(i.name) for i in plugins.infos.values()) if plugins.infos else 10
    for info in plugins.infos.values():
        registers = ", ".join(info.registers) or "-"
        status = "" if info.status == "loaded" else f"  [{info.status}{': ' + info.error if info.error else ''}]"
        _say(f"{info.name:<{width}}  {info.dist} {info.version}  {registers}{status}")
    if args.verbose:
        for registry in (plugins.tasks, plugins.methods, plugins.backends):
            print(f"\n{registry.kind}s:")
            for entry in registry:
                cls = entry.obj
                _say(f"  {entry.name} (v{cls.version}, from {entry.plugin}){_availability(registry.kind, cls)}")
                for p in getattr(cls, "parameters", ()):
                    _say(f"    {p.name}={p.default!r}: {p.help} [{p.accepts()}]")
                for overrides in getattr(cls, "standard_configs", ()):
                    _say(f"    standard: {format_spec(entry.name, overrides)}")
                if getattr(cls, "kernels", None):
                    _say(f"    needs native: {', '.join(sorted(cls.kernels))}")
                if registry.kind == "method":
                    _print_method_limits(cls)
    return 0


def _print_method_limits(cls: type) -> None:
    where = [f"the {', '.join(cls.backends)} backend"] if cls.backends is not None else []
    if set(cls.devices) != {"cpu", "cuda"}:
        where.append(f"device {', '.join(cls.devices)}")
    if where:
        _say(f"    runs only on: {'; '.join(where)}")
    if cls.deterministic:
        print("    deterministic: runs once, whatever --seeds says")


def _availability(kind: str, cls: type) -> str:
    if kind != "backend":
        return ""
    try:
        available = cls().availability()
    except Exception as exc:  # a backend that cannot even be constructed is unavailable, not a crash
        return f": unavailable ({type(exc).__name__}: {exc})"
    return ": available" if available.ok else f": unavailable ({available.reason})"


def _new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import new_plugin

    made = new_plugin(args.name, args.output)
    print(f"benchsuite: wrote {made.dist} (method {made.name}, module {made.module}) in {made.folder}:")
    for path in made.files:
        print(f"  {path}")
    print(f"next: cd {made.folder} && pip install -e \".[test]\" && pytest   (then replace the method in "
          f"{made.module}.py)")
    return 0


def _store(args: argparse.Namespace) -> int:
    from .storecheck import check_store

    if args.store_command == "import":
        return _store_import(args)

    report = check_store(args.store, fix=args.fix)
    for line in report.lines():
        print(line)
    print(f"benchsuite: {report.summary()}", file=sys.stderr)
    return 0 if report.clean else 1


def _store_import(args: argparse.Namespace) -> int:
    from .bundlecheck import import_bundle

    print(f"benchsuite: {import_bundle(args.bundle, args.store).summary()}", file=sys.stderr)
    return 0


def _submit(args: argparse.Namespace) -> int:
    from .isolation import limits_of
    from .submission import submit

    limits = limits_of(args.time_limit, args.memory_limit)
    made = submit(_load(args), args.method, tasks=args.task, output=args.output, quick=args.quick,
                  keep_artifacts=args.keep_artifacts, limits=limits, allow_builtin=args.allow_builtin,
                  progress=not args.no_progress)
    if len(made.frame):
        print(_format_table(made.frame))
    print(f"benchsuite: {made.summary()}", file=sys.stderr)
    return 1 if made.bad else 0


def _leaderboard(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from .paths import store_dir

    app = Path(str(files("benchsuite_leaderboard") / "app.py"))
    store = store_dir(args.store)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.host, "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer", "--", "--store", str(store)]
    print(f"benchsuite: leaderboard on http://{args.host}:{args.port} (store {store}); Ctrl-C stops it",
          file=sys.stderr)
    env = {**os.environ, "BENCHSUITE_STORE": str(store)}
    server = subprocess.Popen(command, env=env)
    # a SIGTERM (kill, a service manager, a test's teardown) reaches only this process: pass it on, or the
    # Streamlit server is orphaned and keeps the port
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches both; a SIGINT sent to this process alone does not
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
