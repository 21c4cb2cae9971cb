"""The argument parser of every command; a parse error is one line, not usage text."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

RESULT_FORMATS = ("table", "csv", "json", "parquet", "pytest-benchmark")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        print(f"benchsuite: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers like 0,1,2, not {text!r}") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds takes distinct integers >= 0, not {text!r}")
    return seeds


def build_parser() -> argparse.ArgumentParser:
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
    seeds.add_argument("--seeds", type=seed_list, metavar="S,S,...",
                       help="run every method that is not deterministic once per seed (e.g. 0,1,2); "
                            "`benchsuite results --by-seed` then gives mean and 95%% interval")
    run.add_argument("--suite", choices=("standard", "full"), default="standard",
                     help="with no --method: each built-in method's headline configuration (standard) or its "
                          "whole documented sweep too (full)")
    run.add_argument("--track", choices=("closed", "open"), default="closed",
                     help="closed: the shared budget (500 fine-tuning steps, 900 s, 1024 calibration samples "
                          "without labels); open: any budget, recorded")
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
                                         "exported .parquet/.csv/.json files): the speedup against the "
                                         "baseline timed interleaved with each row, and the score, each with "
                                         "whether the two runs' 95%% intervals separate.")
    compare.add_argument("old", metavar="OLD")
    compare.add_argument("new", metavar="NEW")
    compare.add_argument("--fail-on-regression", type=float, metavar="PCT", default=None,
                         help="exit 1 when a configuration got more than PCT%% slower or less accurate and "
                              "the two runs' 95%% intervals separate (a change within the noise never fails)")

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
