"""The command line: a thin layer over the library. Every BenchsuiteError becomes one line and an exit code."""

from __future__ import annotations

import argparse
import os
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

    board = sub.add_parser("leaderboard", parents=[store_opt], help="serve the Streamlit leaderboard")
    board.add_argument("--port", type=int, default=8501)
    board.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "results": _results, "plugins": _plugins, "leaderboard": _leaderboard,
                "compare": _compare, "validate": _validate, "tasks": _tasks}[args.command](args)
    except BenchsuiteError as exc:
        print(f"benchsuite: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("benchsuite: interrupted; rows already measured are kept in the store", file=sys.stderr)
        return 130


def _load(args: argparse.Namespace) -> Any:
    from .plugins import load_plugins

    return load_plugins(args.plugins_dir, strict=args.strict_plugins)


def _format_table(frame: Any, summarize: bool = True) -> str:
    import pandas as pd

    from .report import summary_frame

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.float_format", "{:.4g}".format):
        return (summary_frame(frame) if summarize else frame).to_string(index=False)


def _run(args: argparse.Namespace) -> int:
    import time

    from .runner import RunOptions, build_grid, run_grid
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
    options = RunOptions(quick=args.quick, seeds=args.seeds or (args.seed,), track=args.track, **budget)
    plugins = _load(args)
    grid = build_grid(plugins, args.task, args.method, args.backend, suite=args.suite)
    store = ResultStore(args.store)
    store.files()  # fail early on a bad --store, before any compute
    print(f"benchsuite: {len(grid)} runs: tasks {', '.join(grid.tasks)}; methods "
          f"{', '.join(c.spec for c in grid.methods)}; backends {', '.join(c.spec for c in grid.backends)}"
          f"{' (quick)' if args.quick else ''}; {args.track} track; store {store.path}", file=sys.stderr)
    start = time.perf_counter()
    rows = run_grid(plugins, grid, options, store, progress=not args.no_progress)
    frame = to_frame(rows)
    print(_format_table(frame))
    if len(options.seeds) > 1:
        from .report import by_seed

        print("\nover seeds " + ",".join(map(str, options.seeds)) + ":\n" + _format_table(by_seed(frame), False))
    failed = int((frame["status"] == "failed").sum())
    skipped = int((frame["status"] == "skipped").sum())
    print(f"benchsuite: {len(frame)} runs in {time.perf_counter() - start:.0f} s: {len(frame) - failed - skipped} ok, "
          f"{failed} failed, {skipped} skipped; stored in {store.path}", file=sys.stderr)
    return 1 if failed else 0


def _results(args: argparse.Namespace) -> int:
    from .store import ResultStore

    frame = ResultStore(args.store).read()
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
    table = compare(read_results(args.old), read_results(args.new), 0.0 if threshold is None else threshold)
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
        print(TaskCard.of(plugins.tasks.get(args.name)()).text())
        return 0
    for entry in plugins.tasks:
        task = entry.obj()
        available = task.availability()
        state = "available" if available.ok else f"unavailable: {available.reason}"
        print(f"{entry.name:<28} v{task.version:<4} {task.modality:<7} {task.metric.name:<16} {state}")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from .params import format_spec

    plugins = _load(args)
    width = max(len(i.name) for i in plugins.infos.values()) if plugins.infos else 10
    for info in plugins.infos.values():
        registers = ", ".join(info.registers) or "-"
        status = "" if info.status == "loaded" else f"  [{info.status}{': ' + info.error if info.error else ''}]"
        print(f"{info.name:<{width}}  {info.dist} {info.version}  {registers}{status}")
    if args.verbose:
        for registry in (plugins.tasks, plugins.methods, plugins.backends):
            print(f"\n{registry.kind}s:")
            for entry in registry:
                cls = entry.obj
                print(f"  {entry.name} (v{cls.version}, from {entry.plugin}){_availability(registry.kind, cls)}")
                for p in getattr(cls, "parameters", ()):
                    print(f"    {p.name}={p.default!r}: {p.help} [{p.accepts()}]")
                for overrides in getattr(cls, "standard_configs", ()):
                    print(f"    standard: {format_spec(entry.name, overrides)}")
                if getattr(cls, "kernels", None):
                    print(f"    needs native: {', '.join(sorted(cls.kernels))}")
                if registry.kind == "method":
                    _print_method_limits(cls)
    return 0


def _print_method_limits(cls: type) -> None:
    where = [f"the {', '.join(cls.backends)} backend"] if cls.backends is not None else []
    if set(cls.devices) != {"cpu", "cuda"}:
        where.append(f"device {', '.join(cls.devices)}")
    if where:
        print(f"    runs only on: {'; '.join(where)}")
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
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
