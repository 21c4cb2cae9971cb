"""Migrations of results files written by older schema versions, one function per version step."""

from __future__ import annotations

import json

import pandas as pd

from benchsuite.results.schema import SCHEMA_VERSION


def _migrate_v1(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 1 -> 2: adds config, track, the seconds budget and model-reported metrics."""
    from benchsuite.sdk.params import format_spec

    return frame.assign(
        schema_version=2,
        config=[format_spec(m, json.loads(p)) for m, p in zip(frame["method"], frame["params"])],
        track="open", finetune_budget_seconds=float("nan"), finetune_stopped_by_time=pd.NA,
        mean_exit_depth=float("nan"), model_metrics="",
    )


def _migrate_v2(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 2 -> 3: speedup columns renamed realized_*, hardware fingerprint computed from the machine columns;
    intervals, FLOPs ratios, compile time and timing samples, which v2 did not record, stay empty."""
    from benchsuite.measure.hardware import hardware_fingerprint

    machine = frame[["cpu_model", "cpu_cores", "ram_bytes", "gpu", "os"]].astype(object).fillna(0)
    return frame.rename(columns={"speedup": "realized_speedup", "speedup_b1": "realized_speedup_b1"}).assign(
        schema_version=3,
        hardware_fingerprint=[hardware_fingerprint(*values) for values in machine.itertuples(index=False)],
    )


def _migrate_v3(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 3 -> 4: adds the tasks' secondary metrics (`extra_scores`), which v3 did not record, and the
    allocator setting (v3 timed with the C library's defaults)."""
    allocator = frame["status"].map(lambda s: "system (before schema 4)" if s == "ok" else None)
    return frame.assign(schema_version=4, extra_scores="", allocator=allocator)


def _migrate_v4(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 4 -> 5: adds the fault-isolation and integrity columns; v4 ran in-process, unchecked, unlimited."""
    return frame.assign(schema_version=5, traceback_file="", integrity="", artifact_sha256="",
                        time_limit_seconds=float("nan"), memory_limit_bytes=pd.NA)


def _migrate_v5(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 5 -> 6: adds the executor, accuracy-only and artifact-cache columns and the timing window; v5 ran
    locally, timed every ok row, compressed every model anew, and did not record its timing window."""
    return frame.assign(schema_version=6, executor="local", timed=True, compression_cached=False,
                        timing_started_at=pd.NaT, timing_seconds=float("nan"), timing_lock_wait_seconds=float("nan"),
                        yielded_to_timing_seconds=float("nan"), timing_background_cpu=float("nan"))


def _migrate_v6(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 6 -> 7: speedups were the ratio of two separate timing sessions (the baseline's and this row's),
    with a bootstrap interval within them; v6 did not record interleaved rounds, the evaluation batch size
    (always the task batch size), batch dependence, scores at batch 1 or the timing order (inputs in order)."""
    ok = frame["status"] == "ok"
    return frame.assign(
        schema_version=7,
        speedup_method=frame["realized_speedup"].notna().map({True: "separate sessions", False: None}),
        speedup_rounds=pd.NA, speedup_round_ratios=None, speedup_stopped_by=None,
        interleaved_baseline_p50_ms=float("nan"), speedup_b1_rounds=pd.NA, speedup_b1_round_ratios=None,
        speedup_b1_stopped_by=None, interleaved_baseline_b1_p50_ms=float("nan"),
        eval_batch_size=frame["batch_size"].where(ok), batch_dependent=pd.NA, score_b1=float("nan"),
        score_b1_ci_low=float("nan"), score_b1_ci_high=float("nan"), timing_order_seed=pd.NA)


def _migrate_v7(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 7 -> 8: a speedup interval of interleaved rounds described the spread of one run's rounds only,
    which separate runs on one machine exceed. Schema 8 states where a repeat run would measure the speedup; as
    schema 7 rows keep their rounds, their intervals are restated exactly so, with the default between-runs term
    (TimingPolicy.between_runs_sd). Rows timed in separate sessions keep their bootstrap intervals."""
    from benchsuite.measure.policy import TimingPolicy
    from benchsuite.results.rows import samples, speedup_of_rounds

    between = TimingPolicy().between_runs_sd
    frame = frame.assign(schema_version=8, speedup_between_runs_sd=float("nan"))
    interleaved = (frame["speedup_method"] == "interleaved").fillna(False)
    frame.loc[interleaved, "speedup_between_runs_sd"] = between
    for prefix, rounds in (("realized_speedup", "speedup_round_ratios"),
                           ("realized_speedup_b1", "speedup_b1_round_ratios")):
        for index in frame.index[interleaved]:
            ratios = samples(frame.at[index, rounds])
            if len(ratios) == 0:
                continue
            _, ci = speedup_of_rounds(ratios, between)
            frame.at[index, f"{prefix}_ci_low"] = ci[0] if ci else float("nan")
            frame.at[index, f"{prefix}_ci_high"] = ci[1] if ci else float("nan")
    return frame


def _migrate_v8(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 8 -> 9: adds the generation columns; every timed row before schema 9 timed forward passes."""
    timed = frame["latency_p50_ms"].notna()
    return frame.assign(schema_version=9, timing_kind=timed.map({True: "forward", False: None}),
                        prompt_tokens=pd.NA, new_tokens=pd.NA, ttft_ms=float("nan"), tpot_ms=float("nan"),
                        tokens_per_s=float("nan"), ttft_b1_ms=float("nan"), tpot_b1_ms=float("nan"),
                        tokens_per_s_b1=float("nan"), memory_bandwidth_gbps=float("nan"),
                        tpot_floor_b1_ms=float("nan"), tpot_floor_fraction=float("nan"))


def _migrate_v9(frame: pd.DataFrame) -> pd.DataFrame:
    """Schema 9 -> 10: rows may pool the timings of several worker processes; every timed row before schema 10
    was timed in one (its speedup, the median of its rounds, and its interval stay as stored)."""
    timed = frame["latency_p50_ms"].notna()
    return frame.assign(schema_version=SCHEMA_VERSION, timing_processes=timed.map({True: 1, False: pd.NA}).astype("Int64"),
                        speedup_pass_rounds=None, speedup_b1_pass_rounds=None)


#: _MIGRATIONS[v - 1] turns a frame of schema v into one of schema v + 1
_MIGRATIONS = (_migrate_v1, _migrate_v2, _migrate_v3, _migrate_v4, _migrate_v5, _migrate_v6, _migrate_v7,
               _migrate_v8, _migrate_v9)
