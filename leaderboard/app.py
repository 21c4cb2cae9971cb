"""Streamlit layout of the leaderboard; every computation lives in `data`, `pareto`, `constraints`, `runs`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import astuple, replace
from pathlib import Path

import pandas as pd
import streamlit as st

from benchsuite.errors import BenchsuiteError
from benchsuite.discovery.loader import PluginLists
from benchsuite.results.store import ResultStore
from benchsuite_leaderboard import charts, constraints, data, pareto, runs
from benchsuite_leaderboard.markup import plain

PAGES = ("Leaderboard", "Trade-offs", "Constraint explorer", "Run detail", "Compare")
#: the most points one trade-off chart draws (every frontier point, then a sample of the rest)
MAX_CHART_POINTS = 1000
#: the most backend × machine pairs the trade-off page draws at once (filter hardware or backend for others)
MAX_CHART_PAIRS = 6
#: the most runs the detail and compare pickers list (the newest first)
MAX_PICKER_RUNS = 2000


def _store_arg() -> str | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.store


def _signature(store: ResultStore) -> tuple:
    """Changes whenever a results file is added, removed or rewritten, invalidating the caches."""
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in store.files())


# cache_resource, not cache_data: the frames are shared read-only instead of being copied on every rerun.
# `lists` (the plugin allow/block lists, read from the environment) is part of every key.
@st.cache_resource(show_spinner="Reading the results store…", max_entries=2)
def _load(path: str, signature: tuple, lists: tuple) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """The rows the plugin lists let through, prepared, the caption on the rows they hid, and one warning per
    results file that could not be read (skipped)."""
    skipped: list[str] = []
    frame = ResultStore(path).read(exclude=data.UNUSED_COLUMNS, warn=skipped.append)
    return (*data.visible(data.prepare(frame), PluginLists(*lists)), tuple(skipped))


@st.cache_resource(show_spinner=False, max_entries=64)
def _select(path: str, signature: tuple, lists: tuple, filters: tuple) -> pd.DataFrame:
    return data.select(_load(path, signature, lists)[0], data.Filters(*filters))


@st.cache_resource(show_spinner=False, max_entries=16)
def _exports(path: str, signature: tuple, lists: tuple, filters: tuple) -> tuple[bytes, bytes]:
    full = data.table(_select(path, signature, lists, filters), limit=None)
    return data.export_csv(full), data.export_parquet(full)


st.set_page_config(page_title="benchsuite leaderboard", layout="wide")
st.title("benchsuite leaderboard")
st.caption("The task's score (accuracy, or agreement with the fp32 model where a task has no labels: see its "
           "metric) and realized speed, size and memory of each compressed model, measured together on the "
           "same machine; speedups are against the baseline measured in the same run on the same backend.")

store = ResultStore(_store_arg())
lists = astuple(PluginLists.from_environ())
try:
    signature = _signature(store)
    results, hidden_note, unreadable = _load(str(store.path), signature, lists)
except (BenchsuiteError, OSError) as exc:
    st.error(plain(f"Cannot read the results store: {exc}"))
    st.stop()

for message in unreadable:
    st.warning(plain(message))

if hidden_note:
    st.caption(plain(hidden_note))
if results.empty:
    if not hidden_note:
        st.info(f"No results in {plain(store.path)} yet. Run `benchsuite run` (or `benchsuite run --quick` for a "
                "smoke test), then reload this page.")
    st.stop()

with st.sidebar:
    page = st.radio("Page", PAGES, key="page")
    st.header("Filters")
    task = st.selectbox("Task", data.task_names(results), key="task")
    task_versions = data.versions(results, task)
    version = st.selectbox("Task version", task_versions, key="version",
                           help="Results of different task versions are never ranked together.")
    options = data.choices(results, task)
    hardware = st.multiselect("Hardware", options["hardware"], key="hardware", placeholder="all machines",
                              help="CPU · cores · GPU · fingerprint. Latencies compare only on one machine; "
                                   "Pareto ranks are computed per machine.")
    backends = st.multiselect("Backend", options["backends"], key="backends", placeholder="all backends")
    families = st.multiselect("Method family", options["families"], key="families", placeholder="all families")
    tracks = st.multiselect("Track", options["tracks"], key="tracks", placeholder="both tracks",
                            help="closed: calibration + the shared fine-tuning budget; open: any budget")
    include_quick = st.checkbox("show --quick runs", value=False, key="quick")
    st.caption(f"store: {plain(Path(store.path))} · {len(results):,} rows")

filters = data.Filters(task, version, tuple(hardware), tuple(backends), tuple(families), tuple(tracks),
                       include_quick)
all_statuses = replace(filters, statuses=("ok", "failed", "timeout", "crashed", "skipped"))
selected = _select(str(store.path), signature, lists, astuple(filters))
st.subheader(plain(task), anchor=False)
st.caption(plain(data.task_caption(results[results["task_version"] == version], task)))

if page in PAGES[:3] and selected.empty:
    counts = data.status_counts(results[results["task"] == task])
    if not counts.get("ok"):
        st.warning(f"No successful runs to rank for this task ({counts.get('failed', 0)} failed, "
                   f"{counts.get('skipped', 0)} skipped). Check 'Run detail' or `benchsuite results` for the "
                   "errors.")
    else:
        st.warning("No successful runs match the filters"
                   + ("" if include_quick else " (--quick runs are hidden: tick 'show --quick runs')") + ".")
    st.stop()

if page == "Leaderboard":
    shown = data.table(selected)
    st.caption(f"{len(selected):,} configurations · ranked by Pareto rank of score against p50 latency at the "
               "task batch size (1 = no run on the same machine is as good on both and better on one), then score"
               + (f" · showing the first {len(shown):,}; the export holds all" if len(shown) < len(selected)
                  else ""))
    column_config = {h: st.column_config.NumberColumn(h, format=f) for h, f in data.formats(list(shown)).items()}
    st.dataframe(shown, hide_index=True, width="stretch", column_config=column_config, key="table")
    left, right = st.columns(2)
    # callables: the files are made when a button is clicked, not on every rerun
    left.download_button("Download CSV", lambda: _exports(str(store.path), signature, lists, astuple(filters))[0],
                         file_name=data.file_name(task, "csv"), mime="text/csv", key="csv", on_click="ignore")
    right.download_button("Download Parquet",
                          lambda: _exports(str(store.path), signature, lists, astuple(filters))[1],
                          file_name=data.file_name(task, "parquet"), mime="application/vnd.apache.parquet",
                          key="parquet", on_click="ignore")

elif page == "Trade-offs":
    higher = data.higher_is_better(selected)
    score_title = f"{selected['metric'].iloc[0]} ({'higher' if higher else 'lower'} is better)"
    st.caption("One row of charts per backend and machine. Solid points are on the Pareto frontier of score "
               "against that cost (joined by the dashed line); faded points are beaten by a frontier point. "
               "Hover a point for its details.")
    pairs = selected.groupby(["hardware", "backend"], sort=True)
    if pairs.ngroups > MAX_CHART_PAIRS:
        st.info(f"Showing {MAX_CHART_PAIRS} of {pairs.ngroups} backend × machine pairs; pick hardware or backends "
                "in the sidebar to see the others.")
    for _, ((machine, backend), group) in zip(range(MAX_CHART_PAIRS), pairs):
        st.markdown(f"**{plain(backend)}** on {plain(machine)}")
        columns = st.columns(2)
        axes = ((("tokens_per_s_b1", "tpot_b1_ms", "tokens/s at batch 1 (log)"),) if data.generative(group) else
                (("latency_p50_ms", "latency_p50_ms", "p50 latency ms (task batch size, log)"),))
        for column, (cost, by, title) in zip(columns, (*axes, ("size_mb", "size_mb", "model size MB (log)"))):
            on = pareto.frontier(group, by)  # tokens/s: the frontier of its inverse, the time per token
            points = data.sample_points(group.assign(on_frontier=on), on, MAX_CHART_POINTS)
            if len(points) < len(group):
                column.caption(f"{len(points):,} of {len(group):,} points drawn (all frontier points)")
            column.altair_chart(charts.tradeoff(points, cost, title, score_title, options["families"]),
                                width="stretch")

elif page == "Constraint explorer":
    higher = data.higher_is_better(selected)
    st.caption("Enter your limits; leave a field at 0 for no limit. Each backend on each machine gets its best "
               "configuration within all the limits.")
    a, b, c, d = st.columns(4)
    latency = a.number_input("Latency budget, p50 ms", min_value=0.0, value=0.0, key="budget_latency")
    at_one = b.radio("Latency at", ("batch 1", "task batch size"), key="budget_batch") == "batch 1"
    size = c.number_input("Size budget, MB", min_value=0.0, value=0.0, key="budget_size")
    score = d.number_input("Minimum score" if higher else "Maximum score", value=0.0, key="budget_score",
                           format="%.4f")
    budget = constraints.Budget(latency or None, at_one, size or None, score or None)
    best = constraints.best_per_platform(selected, budget)
    if best.empty:
        st.warning(f"No configuration meets {budget.describe(higher)}. "
                   + "; ".join(constraints.closest(selected, budget)) + ".")
    else:
        st.success(f"{len(best)} backend/machine pairs have a configuration that meets {budget.describe(higher)}.")
        st.dataframe(constraints.answer_table(best), hide_index=True, width="stretch", key="answer")
        with st.expander(f"All {len(constraints.meeting(selected, budget)):,} configurations within the limits"):
            st.dataframe(constraints.answer_table(constraints.meeting(selected, budget)), hide_index=True,
                         width="stretch", key="all_fitting")

else:
    pool = _select(str(store.path), signature, lists, astuple(all_statuses))
    pool = pool.sort_values("created_at", ascending=False, kind="stable").head(MAX_PICKER_RUNS)
    pool = pool.assign(row_key=data.row_keys(pool))
    keys = {runs.label(row): row["row_key"] for row in pool.to_dict("records")}
    if not keys:
        st.info("No runs match the filters.")
        st.stop()
    if page == "Run detail":
        picked = st.selectbox("Run", list(keys), key="detail_run")
        row = pool[pool["row_key"] == keys[picked]].iloc[0].to_dict()
        if row["status"] != "ok":
            st.error(plain(f"{row['status']}: {row['error']}"))
        st.markdown("**Reproduce** (on the machine you want numbers for):")
        st.code(runs.reproduce_command(row), language="bash")
        for section, fields in runs.detail(row).items():
            st.markdown(f"**{section}**")
            st.dataframe(fields, hide_index=True, width="stretch")
    else:
        picked = st.multiselect("Runs to compare (the first is the reference)", list(keys), key="compare_runs",
                                max_selections=6)
        if len(picked) < 2:
            st.info("Pick two or more runs. Each difference is tested against the 95% intervals (speedups: "
                    "from rounds timed interleaved with the baseline): 'beyond' means the intervals do not "
                    "overlap.")
        else:
            chosen = pool.set_index("row_key").loc[[keys[p] for p in picked]].reset_index()
            st.dataframe(runs.compare(chosen), hide_index=True, width="stretch", key="comparison")
