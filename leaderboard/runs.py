"""One run in detail, the command that reproduces it, and runs compared against their confidence intervals."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

import pandas as pd

from benchsuite.sdk.params import format_spec
from benchsuite.sdk.tracks import CLOSED_BUDGET_SECONDS, CLOSED_BUDGET_STEPS

from .pareto import latency_interval

#: the detail view's sections: heading -> store columns
DETAIL_SECTIONS = {
    "Result": ["status", "error", "task", "task_version", "metric", "higher_is_better", "score", "score_ci_low",
               "score_ci_high", "eval_batch_size", "batch_dependent", "score_b1", "score_b1_ci_low", "score_b1_ci_high",
               "extra_scores", "baseline_score", "score_delta", "eval_samples", "integrity",
               "artifact_sha256", "traceback_file"],
    "Speed": ["batch_size", "latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms", "latency_p90_ms",
              "latency_p99_ms", "latency_mean_ms", "latency_std_ms", "latency_samples", "latency_warmup_calls",
              "latency_steady", "throughput_sps", "latency_b1_p50_ms", "latency_b1_p50_ci_low_ms",
              "latency_b1_p50_ci_high_ms", "latency_b1_p90_ms", "latency_b1_p99_ms", "latency_b1_samples",
              "baseline_latency_p50_ms", "realized_speedup", "realized_speedup_ci_low", "realized_speedup_ci_high",
              "speedup_method", "speedup_rounds", "speedup_stopped_by", "speedup_between_runs_sd",
              "interleaved_baseline_p50_ms",
              "realized_speedup_b1", "realized_speedup_b1_ci_low", "realized_speedup_b1_ci_high", "speedup_b1_rounds",
              "speedup_b1_stopped_by", "interleaved_baseline_b1_p50_ms", "timing_order_seed", "flops",
              "baseline_flops", "flops_ratio", "theoretical_speedup", "speedup_efficiency", "compile_seconds"],
    "Generation": ["timing_kind", "prompt_tokens", "new_tokens", "ttft_ms", "tpot_ms", "tokens_per_s", "ttft_b1_ms",
                   "tpot_b1_ms", "tokens_per_s_b1", "memory_bandwidth_gbps", "tpot_floor_b1_ms",
                   "tpot_floor_fraction"],
    "Size and memory": ["model_size_bytes", "baseline_model_size_bytes", "size_ratio", "params_total",
                        "params_nonzero", "sparsity", "peak_memory_bytes", "mean_exit_depth", "model_metrics"],
    "Method and cost": ["config", "method", "method_family", "method_version", "params", "method_plugin",
                        "method_dist", "method_dist_version", "seed", "track", "quick", "compress_seconds",
                        "finetune_steps", "finetune_budget_steps", "finetune_budget_seconds",
                        "finetune_stopped_by_time", "calibration_samples"],
    "Provenance": ["run_id", "created_at", "backend", "backend_params", "device", "threads", "allocator",
                   "time_limit_seconds", "memory_limit_bytes", "cpu_model", "cpu_cores", "ram_bytes", "os", "gpu", "hardware_fingerprint", "python_version",
                   "torch_version", "transformers_version", "benchsuite_version", "schema_version"],
}


def label(row: Mapping[str, Any]) -> str:
    """A one-line name for a run in pickers: method, backend, machine, seed, time, status, and the start of its
    key (so that two otherwise identical runs differ)."""
    when = pd.Timestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M") if pd.notna(row["created_at"]) else "?"
    seed = f" · seed {row['seed']}" if pd.notna(row.get("seed")) else ""
    key = f" · #{row['row_key'][:8]}" if isinstance(row.get("row_key"), str) else ""
    return f"{row['config']} · {row['backend']} · {row['hardware']}{seed} · {when} · {row['status']}{key}"


def detail(row: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Every stored value of a run, as (field, value) tables per section; values as text, never markup."""
    return {section: pd.DataFrame({"field": columns, "value": [_text(row.get(c)) for c in columns]})
            for section, columns in DETAIL_SECTIONS.items()}


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def reproduce_command(row: Mapping[str, Any]) -> str:
    """The `benchsuite run` command that measures this configuration again (on the machine it is run on)."""
    backend = format_spec(str(row["backend"]), json.loads(row.get("backend_params") or "{}"))
    words = ["benchsuite", "run", "--task", str(row["task"]), "--method", str(row["config"]), "--backend", backend]
    if pd.notna(row.get("seed")):
        words += ["--seed", str(int(row["seed"]))]
    if row.get("track") == "open":
        words += ["--track", "open"]
        steps, seconds = row.get("finetune_budget_steps"), row.get("finetune_budget_seconds")
        if pd.notna(steps) and int(steps) != CLOSED_BUDGET_STEPS:
            words += ["--finetune-budget", str(int(steps))]
        if pd.notna(seconds) and float(seconds) != CLOSED_BUDGET_SECONDS:
            words += ["--finetune-budget-seconds", f"{float(seconds):g}"]
    if bool(row.get("quick")) and pd.notna(row.get("quick")):
        words.append("--quick")
    command = shlex.join(words)
    dist = row.get("method_dist")
    if isinstance(dist, str) and dist and dist != "benchsuite":  # built-ins ship with benchsuite itself
        # one line, no control characters: a newline in a stored name would end the comment, and what followed
        # it would run in the shell the command is pasted into
        note = " ".join(f"{dist} {row.get('method_dist_version') or ''}".split())
        command += "  # with " + "".join(c if c.isprintable() else "?" for c in note) + " installed"
    return command


#: what the compare view tests: label -> (value column, interval low column, interval high column)
COMPARED = {
    "score": ("score", "score_ci_low", "score_ci_high"),
    "score at batch 1": ("score_b1", "score_b1_ci_low", "score_b1_ci_high"),
    "p50 latency ms": ("latency_p50_ms", "_latency_low", "_latency_high"),
    "p50 latency batch 1 ms": ("latency_b1_p50_ms", "_latency_b1_low", "_latency_b1_high"),
    "realized speedup ×": ("realized_speedup", "realized_speedup_ci_low", "realized_speedup_ci_high"),
    "size MB": ("size_mb", None, None),
    "peak memory MB": ("peak_memory_mb", None, None),
}


def compare(rows: pd.DataFrame) -> pd.DataFrame:
    """Runs side by side (one column each, the first is the reference) and, for every other run, whether each
    metric differs from the reference's beyond the 95% intervals (the intervals do not overlap). Speedups carry
    the interval of their rounds interleaved with the baseline; latencies the same relative width
    (pareto.latency_interval), which covers the drift between timings that a latency's own bootstrap interval
    does not. Sizes are exact: any difference counts."""
    names = [f"{i + 1}: {label(r)}" for i, (_, r) in enumerate(rows.iterrows())]
    low, high = latency_interval(rows, "latency_p50_ms")
    low_b1, high_b1 = latency_interval(rows, "latency_b1_p50_ms")
    records = rows.assign(_latency_low=low, _latency_high=high, _latency_b1_low=low_b1,
                          _latency_b1_high=high_b1).to_dict("records")
    ref = records[0]
    table: dict[str, list[str]] = {"metric": list(COMPARED)}
    for name, record in zip(names, records):
        table[name] = [_with_interval(record, *cols) for cols in COMPARED.values()]
    for i, record in enumerate(records[1:], start=2):
        table[f"run {i} vs run 1"] = [_verdict(ref, record, *cols) for cols in COMPARED.values()]
    return pd.DataFrame(table)


def _with_interval(row: Mapping[str, Any], value: str, low: str | None, high: str | None) -> str:
    v = row.get(value)
    if v is None or pd.isna(v):
        return "–"
    if low and high and pd.notna(row.get(low)) and pd.notna(row.get(high)):
        return f"{v:.4g} [{row[low]:.4g}, {row[high]:.4g}]"
    return f"{v:.4g}"


def _verdict(ref: Mapping[str, Any], other: Mapping[str, Any], value: str, low: str | None,
             high: str | None) -> str:
    a, b = ref.get(value), other.get(value)
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return "not comparable (missing)"
    if low is None:
        return "same" if a == b else f"differs ({(b - a) / a:+.1%})" if a else "differs"
    bounds = [ref.get(low), ref.get(high), other.get(low), other.get(high)]
    if any(x is None or pd.isna(x) for x in bounds):
        return "no interval to test"
    a_low, a_high, b_low, b_high = bounds
    if b_low > a_high or b_high < a_low:
        return f"beyond the 95% intervals ({(b - a) / a:+.1%})" if a else "beyond the 95% intervals"
    return "within the intervals (not distinguishable)"
