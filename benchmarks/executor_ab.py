"""Is timing on a Dask LocalCluster the same as timing in one process? Interleaved runs each way, then a comparison.

One run each way cannot answer it on a small VM: the same model's p50 differs between fresh processes by more
than the effect looked for (README, "Scale-out"). So this runs `rounds` rounds, each a local run and a Dask run
in alternating order (local, dask; then dask, local; ...), every run with a new store and one shared artifact
cache, after a warm-up run that fills the cache, so that every measured run only evaluates and times. Then, per
configuration, it sets the ratio of the two executors' median p50 beside each executor's own spread across
rounds.

    python benchmarks/executor_ab.py run --out DIR [--rounds 3] [--workers 2] [-- benchsuite run options]
    python benchmarks/executor_ab.py compare DIR

Each run is ``benchsuite run --no-progress --backend torch-cpu --store DIR/<round>-<executor> ...``; the options
after ``--`` go to every run (e.g. ``--task mnist-cnn``). ``BENCHSUITE_CACHE`` is set to ``DIR/cache``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

KEY = ["task", "config", "backend"]


def store_name(round_: int, executor: str) -> str:
    return f"r{round_}-{executor}"


def order(round_: int) -> tuple[str, str]:
    """ABBA: local first in even rounds, dask first in odd ones, so drift of the machine cancels."""
    return ("local", "dask") if round_ % 2 == 0 else ("dask", "local")


def runs_frame(out: Path) -> pd.DataFrame:
    """Every timed ok row of the round stores under `out`, with `round` and `executor` columns."""
    from benchsuite.results.store import load_results

    frames = []
    for store in sorted(out.glob("r*-*")):
        round_text, _, executor = store.name.partition("-")
        if not store.is_dir() or not round_text[1:].isdigit() or executor not in ("local", "dask"):
            continue
        frame = load_results(store)
        frame = frame[(frame["status"] == "ok") & frame["latency_p50_ms"].notna()]
        frames.append(frame.assign(round=int(round_text[1:]), executor=executor))
    if not frames:
        raise SystemExit(f"executor_ab: no round stores (r<N>-local, r<N>-dask) under {out}: run `run` first")
    return pd.concat(frames, ignore_index=True)


def compare(runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration measured by both executors: each executor's rounds, median p50 and spread (max/min over
    rounds), the ratio dask/local of the medians, and whether that ratio lies outside both spreads."""
    rows = []
    for key, group in runs.groupby(KEY, sort=True):
        row = dict(zip(KEY, key))
        for executor in ("local", "dask"):
            runs_of = group[group["executor"] == executor]
            p50 = runs_of["latency_p50_ms"].astype(float)
            row[f"{executor}_rounds"] = len(p50)
            row[f"{executor}_p50_ms"] = p50.median()  # these three are NaN when this executor has no run of it
            row[f"{executor}_spread"] = p50.max() / p50.min()
            row[f"{executor}_background_cpu"] = runs_of["timing_background_cpu"].astype(float).median()
        if not (row["local_rounds"] and row["dask_rounds"]):
            continue
        row["ratio"] = row["dask_p50_ms"] / row["local_p50_ms"]
        noise = max(row["local_spread"], row["dask_spread"])
        row["beyond_noise"] = bool(row["ratio"] > noise or row["ratio"] < 1 / noise)
        rows.append(row)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    if table.empty:
        return "no configuration was timed by both executors"
    return (f"{len(table)} configurations, {int(table['local_rounds'].min())}+ rounds each way: median ratio "
            f"dask/local {table['ratio'].median():.3f} ({table['ratio'].min():.3f}-{table['ratio'].max():.3f}), "
            f"{int((table['ratio'] > 1).sum())} slower on dask, {int(table['beyond_noise'].sum())} beyond both "
            f"executors' own spread; median spread across rounds: local {table['local_spread'].median():.3f}, "
            f"dask {table['dask_spread'].median():.3f}; median background CPU while timing: local "
            f"{table['local_background_cpu'].median():.1%}, dask {table['dask_background_cpu'].median():.1%}")


def _benchsuite(out: Path, store: str, executor: str, workers: int, extra: list[str]) -> None:
    command = [str(Path(sys.executable).with_name("benchsuite")), "run", "--no-progress", "--backend", "torch-cpu",
               "--store", str(out / store), "--executor", executor, *extra]
    if executor == "dask":
        command += ["--workers", str(workers)]
    start = time.perf_counter()
    result = subprocess.run(command, env={**os.environ, "BENCHSUITE_CACHE": str(out / "cache")})
    print(f"executor_ab: {store}: exit {result.returncode} in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="warm-up run, then interleaved rounds, then the comparison")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("extra", nargs="*", help="after --: options for every `benchsuite run`")
    show = sub.add_parser("compare", help="compare the round stores under DIR")
    show.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        args.out.mkdir(parents=True, exist_ok=True)
        _benchsuite(args.out, "warmup", "local", args.workers, args.extra)
        for round_ in range(args.rounds):
            for executor in order(round_):
                _benchsuite(args.out, store_name(round_, executor), executor, args.workers, args.extra)
    table = compare(runs_frame(args.out))
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(table.to_string(index=False))
    print(summary(table))
    table.to_csv(args.out / "comparison.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
