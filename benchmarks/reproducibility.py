"""Are speedups reproducible? The same configurations in separate suite invocations, then each configuration's
spread of speedups across runs against the interval each run stored.

    python benchmarks/reproducibility.py run --out DIR [--runs 3] [-- benchsuite run options]
    python benchmarks/reproducibility.py compare DIR

Each run is ``benchsuite run --no-progress --backend torch-cpu --store DIR/run-<i> ...`` in a process of its own
(fresh workers for every cell); the options after ``--`` go to every run (e.g. ``--task mnist-cnn``). All runs
share the artifact cache ``DIR/cache``: the first compresses, the others load the same compressed models, so that
what differs between runs is only the timing.

Three speedups and intervals are compared per configuration and run:

- **stored**: the stored `realized_speedup`, the median ratio over rounds timed alternately with the baseline in
  the row's own cell, with its stored 95% interval: where a repeat run would measure it (the rounds' spread and
  the between-runs term `speedup_between_runs_sd`; benchsuite since schema 8);
- **rounds_only**: the same speedup with the interval schema 7 stored: the order-statistic 95% interval of the
  median of the rounds, which describes one run only;
- **one_shot**: what benchsuite stored before schema 7, from the same runs: the baseline row's p50 (timed in the
  baseline's own cell, minutes earlier) over this row's p50, with the bootstrap 95% interval of that ratio over
  the two sessions' per-call samples.

For each: the largest deviation of a run's speedup from the median of the runs, and the share of (run i, run j)
pairs, i != j, in which run i's interval covers run j's speedup. The targets (issue 23) on a 2-core machine:
every configuration within ±5% of its median, and coverage of at least 90%. It also prints the between-runs
standard deviation the runs show beyond their rounds' spread: what `TimingPolicy.between_runs_sd` should be on
this machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEY = ["task", "config", "backend"]
#: the targets: every configuration's runs within this of their median, and at least this interval coverage
WITHIN = 0.05
COVERAGE = 0.90


def runs_frame(out: Path) -> pd.DataFrame:
    """Every timed ok row of the run stores under `out` (run-<i>), with a `run` column."""
    from benchsuite.results.store import load_results

    frames = []
    for store in sorted(out.glob("run-*")):
        number = store.name.partition("-")[2]
        if not store.is_dir() or not number.isdigit():
            continue
        frame = load_results(store)
        frame = frame[(frame["status"] == "ok") & frame["latency_p50_ms"].notna()]
        frames.append(frame.assign(run=int(number)))
    if not frames:
        raise SystemExit(f"reproducibility: no run stores (run-<N>) under {out}: run `run` first")
    return pd.concat(frames, ignore_index=True)


def one_shot(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with the pre-schema-7 speedup of every row: its run's baseline p50 on the same task and backend
    over its own p50, and the bootstrap interval over both rows' per-call samples (`one_shot`, `one_shot_low`,
    `one_shot_high`)."""
    from benchsuite.measure.stats import bootstrap_ratio_ci

    baselines = runs[runs["method"] == "baseline"].set_index(["run", "task", "backend"])
    values, lows, highs = [], [], []
    for _, row in runs.iterrows():
        key = (row["run"], row["task"], row["backend"])
        if key not in baselines.index:
            values.append(np.nan), lows.append(np.nan), highs.append(np.nan)
            continue
        base = baselines.loc[[key]].iloc[-1]
        values.append(float(base["latency_p50_ms"]) / float(row["latency_p50_ms"]))
        ci = bootstrap_ratio_ci(list(base["latency_samples_ms"]), list(row["latency_samples_ms"]), seed=int(row["seed"]))
        lows.append(ci[0] if ci else np.nan)
        highs.append(ci[1] if ci else np.nan)
    return runs.assign(one_shot=values, one_shot_low=lows, one_shot_high=highs)


def _spread_and_coverage(values: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> tuple[float, int, int]:
    """Largest |value / median - 1|, and of the (i, j != i) pairs, how many have value j inside interval i."""
    median = float(np.median(values))
    deviation = float(np.max(np.abs(values / median - 1)))
    covered = pairs = 0
    for i in range(len(values)):
        for j in range(len(values)):
            if i != j and not (np.isnan(lows[i]) or np.isnan(highs[i])):
                pairs += 1
                covered += bool(lows[i] <= values[j] <= highs[i])
    return deviation, covered, pairs


def rounds_only(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with the interval schema 7 stored for every interleaved row: the 95% interval of its speedup from
    its rounds alone (the order-statistic interval of their median; for rounds pooled from several processes,
    measure/intervals.py `rounds_interval`), which describes one run only (`rounds_low`, `rounds_high`)."""
    from benchsuite.measure.intervals import rounds_interval

    passes = runs["speedup_pass_rounds"] if "speedup_pass_rounds" in runs else [None] * len(runs)
    intervals = [rounds_interval([float(v) for v in r], [int(n) for n in p] if _has_rounds(p) else None)
                 if _has_rounds(r) else None for r, p in zip(runs["speedup_round_ratios"], passes)]
    return runs.assign(rounds_low=[ci[0] if ci else np.nan for ci in intervals],
                       rounds_high=[ci[1] if ci else np.nan for ci in intervals])


def _has_rounds(value: object) -> bool:
    return value is not None and not isinstance(value, float) and len(value) > 0  # type: ignore[arg-type]


#: the speedups and intervals compared: (name, speedup column, low column, high column)
VARIANTS = (("one_shot", "one_shot", "one_shot_low", "one_shot_high"),
            ("rounds_only", "realized_speedup", "rounds_low", "rounds_high"),
            ("stored", "realized_speedup", "realized_speedup_ci_low", "realized_speedup_ci_high"))


def compare(runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (the baseline left out: its speedup is 1 by definition) timed in at least two runs:
    each run's speedup and interval as benchsuite stores them now (`stored`: interleaved, with the repeat-run
    interval), as schema 7 stored them (`rounds_only`: the same speedup, the rounds' interval) and before schema 7
    (`one_shot`); their largest deviation from the runs' median and their interval coverage."""
    runs = rounds_only(one_shot(runs))
    rows = []
    for key, group in runs[runs["method"] != "baseline"].groupby(KEY, sort=True):
        group = group.sort_values("run")
        if len(group) < 2:
            continue
        row = dict(zip(KEY, key), runs=len(group))
        for name, value, low, high in VARIANTS:
            v = group[value].astype(float).to_numpy()
            lo, hi = group[low].astype(float).to_numpy(), group[high].astype(float).to_numpy()
            deviation, covered, pairs = _spread_and_coverage(v, lo, hi)
            row[f"{name}_speedups"] = " ".join(f"{x:.3f}" for x in v)
            row[f"{name}_deviation"] = deviation
            row[f"{name}_covered"] = covered
            row[f"{name}_pairs"] = pairs
            row[f"{name}_mean_halfwidth"] = float(np.nanmean((hi - lo) / 2 / v))
        row["stopped_by"] = ", ".join(group["speedup_stopped_by"].astype("string").fillna("–"))
        row["background_cpu_max"] = float(group["timing_background_cpu"].astype(float).max())
        rows.append(row)
    return pd.DataFrame(rows)


def between_runs_estimate(runs: pd.DataFrame) -> tuple[float, int] | None:
    """The relative standard deviation of a speedup between runs that the rounds of one run do not explain,
    pooled over configurations: the mean over configurations of the variance of log speedups across runs, less
    the mean variance of one run's log median that its rounds' 95% interval implies (half its log width / 1.96),
    as a standard deviation (0 where the rounds explain it all), with the number of configurations pooled. What
    `TimingPolicy.between_runs_sd` should be on this machine. None without a configuration in two runs."""
    between, within = [], []
    for _, group in rounds_only(runs[runs["method"] != "baseline"]).groupby(KEY, sort=True):
        group = group[group["rounds_low"].notna()]
        if len(group) < 2:
            continue
        logs = np.log(group["realized_speedup"].astype(float).to_numpy())
        between.append(float(np.var(logs, ddof=1)))
        half = np.log(group["rounds_high"].astype(float).to_numpy() / group["rounds_low"].astype(float).to_numpy()) / 2
        within.append(float(np.mean((half / 1.959964) ** 2)))
    if not between:
        return None
    return float(np.sqrt(max(np.mean(between) - np.mean(within), 0.0))), len(between)


def summary(table: pd.DataFrame, estimate: tuple[float, int] | None = None) -> str:
    if table.empty:
        return "no configuration was timed in two runs or more"
    lines = []
    for name, *_ in VARIANTS:
        within = int((table[f"{name}_deviation"] <= WITHIN).sum())
        covered, pairs = int(table[f"{name}_covered"].sum()), int(table[f"{name}_pairs"].sum())
        share = covered / pairs if pairs else float("nan")
        met = within == len(table) and share >= COVERAGE
        lines.append(f"{name}: {within} of {len(table)} configurations within ±{WITHIN:.0%} of their median "
                     f"(largest deviation {table[f'{name}_deviation'].max():.1%}); the interval covers "
                     f"another run's speedup in {covered} of {pairs} cases ({share:.0%}); median half-width "
                     f"{table[f'{name}_mean_halfwidth'].median():.1%}; targets {'met' if met else 'NOT met'}")
    if estimate is not None:
        from benchsuite.measure.policy import TimingPolicy

        lines.append(f"between-runs sd on this machine: {estimate[0]:.1%} over {estimate[1]} configurations "
                     f"(TimingPolicy.between_runs_sd, which the stored intervals use: "
                     f"{TimingPolicy().between_runs_sd:.1%})")
    return "\n".join(lines)


def _benchsuite(out: Path, number: int, extra: list[str]) -> float:
    command = [str(Path(sys.executable).with_name("benchsuite")), "run", "--no-progress", "--backend", "torch-cpu",
               "--store", str(out / f"run-{number}"), *extra]
    start = time.perf_counter()
    result = subprocess.run(command, env={**os.environ, "BENCHSUITE_CACHE": str(out / "cache")}, check=False)
    seconds = time.perf_counter() - start
    print(f"reproducibility: run-{number}: exit {result.returncode} in {seconds:.0f} s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the runs, then the comparison")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--runs", type=int, default=3)
    run.add_argument("extra", nargs="*", help="after --: options for every `benchsuite run`")
    show = sub.add_parser("compare", help="compare the run stores under DIR")
    show.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.runs < 2:
            parser.error("--runs must be at least 2")
        args.out.mkdir(parents=True, exist_ok=True)
        first = len(list(args.out.glob("run-*")))
        for number in range(first, first + args.runs):
            _benchsuite(args.out, number, args.extra)
    runs = runs_frame(args.out)
    table = compare(runs)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.precision", 3):
        print(table.to_string(index=False))
    print(summary(table, between_runs_estimate(runs)))
    table.to_csv(args.out / "reproducibility.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
