"""Streamlit layout of the leaderboard; every computation lives in `data`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

from benchsuite.errors import BenchsuiteError
from benchsuite.store import ResultStore
from benchsuite_leaderboard import data


def _store_arg() -> str | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.store


def _signature(store: ResultStore) -> tuple:
    """Changes whenever a results file is added, removed or rewritten, invalidating the cache."""
    return tuple((f.name, f.stat().st_mtime_ns) for f in store.files())


@st.cache_data(show_spinner=False)
def _load(path: str, signature: tuple):
    return ResultStore(path).read()


st.set_page_config(page_title="benchsuite leaderboard", layout="wide")
st.title("benchsuite leaderboard")
st.caption("Accuracy and realized speed, size and memory of each compressed model, measured together on the "
           "same machine; speedups are against the baseline measured in the same run on the same backend.")

store = ResultStore(_store_arg())
try:
    results = _load(str(store.path), _signature(store))
except BenchsuiteError as exc:
    st.error(f"Cannot read the results store: {exc}")
    st.stop()

if results.empty:
    st.info(f"No results in {store.path} yet. Run `benchsuite run` (or `benchsuite run --quick` for a smoke test), "
            "then reload this page.")
    st.stop()

with st.sidebar:
    st.header("Filters")
    include_quick = st.checkbox("show --quick runs", value=False)
    shown = data.visible(results, include_quick)
    tasks = st.multiselect("Task", data.task_names(shown), default=data.task_names(shown))
    backends = st.multiselect("Backend", data.backend_names(shown), default=data.backend_names(shown))
    st.caption(f"store: {Path(store.path)} · {len(results)} rows")

if shown.empty:
    failed = int((results["status"] == "failed").sum())
    st.warning(f"No successful runs to rank ({failed} failed). Check `benchsuite results` for the errors"
               + ("" if include_quick else ", or tick 'show --quick runs'") + ".")
    st.stop()

for task in tasks:
    st.subheader(task, anchor=False)
    st.caption(data.task_caption(shown, task))
    table = data.leaderboard(results, task, backends, include_quick)
    if table.empty:
        st.info("No rows match the filters for this task.")
    else:
        formats = {name: st.column_config.NumberColumn(name, format=fmt) for name, fmt in data.FORMATS.items()}
        st.dataframe(table, hide_index=True, width="stretch", column_config=formats)
