"""`benchsuite results` and `benchsuite compare`: printing, exporting and comparing stored results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchsuite.errors import UsageError


def format_table(frame: Any, summarize: bool = True) -> str:
    import pandas as pd

    from benchsuite.results.report import printable_frame, summary_frame

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.float_format", "{:.4g}".format):
        return printable_frame(summary_frame(frame) if summarize else frame).to_string(index=False)


def visible(frame: Any) -> Any:
    """The rows the plugin allow/block lists let through; one line on stderr says how many were hidden and why."""
    from benchsuite.results.report import hidden_rows_note, hide_excluded_plugins

    kept, hidden = hide_excluded_plugins(frame)
    if hidden:
        print(f"benchsuite: {hidden_rows_note(hidden)} (unset the variables to see them)", file=sys.stderr)
    return kept


def results_command(args: argparse.Namespace) -> int:
    from benchsuite.results.store import ResultStore

    frame = visible(ResultStore(args.store).read())
    if args.format == "parquet" and not args.output:
        raise UsageError("--format parquet writes binary; add --output FILE")
    if args.by_seed and args.format != "table":
        raise UsageError("--by-seed is a table view; drop --format or use --format table")
    if args.format == "table":
        if not len(frame):
            text = "no results in the store yet; run `benchsuite run`"
        elif args.by_seed:
            from benchsuite.results.report import by_seed

            text = format_table(by_seed(frame), summarize=False)
        else:
            text = format_table(frame)
    elif args.format == "pytest-benchmark":
        import json

        from benchsuite.results.report import pytest_benchmark_json

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


def compare_command(args: argparse.Namespace) -> int:
    from benchsuite.results.report import compare, read_results

    threshold = args.fail_on_regression
    table = compare(visible(read_results(args.old)), visible(read_results(args.new)),
                    0.0 if threshold is None else threshold)
    if table.empty:
        print(f"benchsuite: no configuration is in both {args.old} and {args.new}", file=sys.stderr)
        return 0
    shown = table if threshold is not None else table.drop(columns="regression")
    print(format_table(shown, summarize=False))
    if threshold is None:
        return 0
    regressions = int(table["regression"].sum())
    print(f"benchsuite: {regressions} of {len(table)} configurations regressed by more than {threshold:g}% "
          "beyond both runs' 95% intervals", file=sys.stderr)
    return 1 if regressions else 0
