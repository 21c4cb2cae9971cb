"""The results schema: every column a row has, its type, its description and where its value comes from.

This is the contract of the results store (`SCHEMA_VERSION` changes whenever a column is added, removed or
changes type; migrations.py reads older files). The rules rows obey are in rules.py; results/rows.py builds
every row from these columns; the documentation's column reference is generated from the descriptions.
Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SCHEMA_VERSION = 10


#: where a column's value comes from, in the order results/rows.py fills them (a later source wins):
#: the row's own bookkeeping, the run's identity (task, method, options), the machine, the backend, the
#: compression's cost, the worker's limits, the backend's measurements, and the columns relative to the baseline
SOURCES = ("row", "run", "machine", "backend", "cost", "limits", "measured", "relative")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype
    description: str
    #: one of SOURCES
    source: str = "measured"


_DECLARED: tuple[Column, ...] = (
    Column("schema_version", "Int64", "version of this schema"),
    Column("run_id", "string", "id shared by every row of one `benchsuite run`"),
    Column("created_at", "datetime64[ns, UTC]", "when the row was measured (UTC)"),
    Column("status", "string", "ok; failed (an exception, a wrong return type, a failed integrity check), timeout "
           "(past the wall-time limit), crashed (the worker died: signal, abort, exit, memory limit) or skipped"),
    Column("error", "string", "one-line reason for rows that are not ok"),
    Column("traceback_file", "string", "for failed, timeout and crashed rows: the saved traceback (or the worker's "
           "last output), relative to the store folder; empty otherwise"),
    Column("quick", "boolean", "measured with --quick (small eval subset, short timing); hidden by default"),
    Column("track", "string", "closed (at most 1,024 unlabelled calibration samples and the shared fine-tuning "
           "budget) or open (any budget)"),
    Column("task", "string", "task name"),
    Column("task_version", "string", "task version; results of different versions are not comparable"),
    Column("modality", "string", "vision or nlp"),
    Column("metric", "string", "name of the task metric"),
    Column("higher_is_better", "boolean", "direction of the task metric"),
    Column("config", "string", "the method configuration as `benchsuite run --method` spells it (pipelines: a > b)"),
    Column("method", "string", "compression method name (pipelines: names joined by ' > ')"),
    Column("method_family", "string", "quantization, pruning, distillation, factorization, architecture, dynamic, other (pipelines: joined by ' > ')"),
    Column("method_version", "string", "method version (pipelines: joined by ' > ')"),
    Column("params", "string", "method parameters as canonical JSON (pipelines: a JSON list, one object per step)"),
    Column("method_plugin", "string", "plugin that registered the method (pipelines: joined by ' > ')"),
    Column("method_dist", "string", "distribution (or plugins-dir file) that ships the method"),
    Column("method_dist_version", "string", "version (or file hash) of that distribution"),
    Column("backend", "string", "backend name"),
    Column("backend_params", "string", "backend parameters as canonical JSON"),
    Column("device", "string", "device the backend ran on"),
    Column("threads", "Int64", "intra-op threads used for inference"),
    Column("allocator", "string", "C heap setting during timing: glibc warm heap (high mmap/trim thresholds) or "
           "system (the C library's defaults); see benchsuite/measure/allocator.py"),
    Column("seed", "Int64", "seed for compression and data order"),
    Column("score", "float64", "task metric of this model on the evaluation split"),
    Column("extra_scores", "string", "JSON of the task's secondary metrics on the same evaluation, e.g. "
           "{\"top5_overlap\": 0.98}; empty if the task has none"),
    Column("baseline_score", "float64", "same metric of the uncompressed model, same run and backend"),
    Column("score_delta", "float64", "score - baseline_score"),
    Column("score_ci_low", "float64",
           "95% interval of score, low end (Wilson for accuracy-like metrics, a cluster bootstrap where the metric "
           "declares clusters (`Metric.cluster_ids`), bootstrap otherwise)"),
    Column("score_ci_high", "float64", "95% interval of score, high end"),
    Column("eval_samples", "Int64", "number of evaluation samples scored"),
    Column("eval_batch_size", "Int64", "batch size at which `score` was computed (the task batch size)"),
    Column("batch_dependent", "boolean", "the model's outputs for a sample depend on the other samples of its batch "
           "(dynamic activation quantization, batch-norm in train mode): the method declares it or its outputs on "
           "a batch and on single samples differ; such rows are also scored at batch 1"),
    Column("score_b1", "float64", "for batch_dependent rows: the same metric with every sample evaluated alone "
           "(batch 1); empty otherwise"),
    Column("score_b1_ci_low", "float64", "95% interval of score_b1, low end"),
    Column("score_b1_ci_high", "float64", "95% interval of score_b1, high end"),
    Column("batch_size", "Int64", "task batch size at which the latency_* columns are measured"),
    Column("latency_p50_ms", "float64", "median latency of one call at batch_size"),
    Column("latency_p90_ms", "float64", "90th percentile latency at batch_size"),
    Column("latency_p99_ms", "float64", "99th percentile latency at batch_size"),
    Column("latency_mean_ms", "float64", "mean latency at batch_size"),
    Column("latency_std_ms", "float64", "standard deviation of latency at batch_size"),
    Column("latency_p50_ci_low_ms", "float64", "bootstrap 95% interval of latency_p50_ms, low end"),
    Column("latency_p50_ci_high_ms", "float64", "bootstrap 95% interval of latency_p50_ms, high end"),
    Column("latency_samples", "Int64", "timed calls at batch_size"),
    Column("latency_samples_ms", "object", "every timed call's latency at batch_size, in order (list of ms)"),
    Column("latency_warmup_calls", "Int64", "untimed warm-up calls before the timed calls at batch_size"),
    Column("latency_steady", "boolean", "warm-up reached a steady median (within 5% between windows) in time"),
    Column("throughput_sps", "float64", "samples per second at batch_size (batch_size / mean latency)"),
    Column("realized_speedup", "float64", "how many times faster than the uncompressed model at batch_size, on the "
           "same backend: the median over interleaved rounds of baseline / this block median (`speedup_method`)"),
    Column("realized_speedup_ci_low", "float64", "95% interval of realized_speedup, low end: where a repeat run on "
           "this machine would measure it (the rounds' order-statistic interval and speedup_between_runs_sd, "
           "each counted for both runs; schema 7: the rounds only; before schema 7 a bootstrap within one "
           "timing session)"),
    Column("realized_speedup_ci_high", "float64", "95% interval of realized_speedup, high end"),
    Column("speedup_method", "string", "how realized_speedup was timed: `interleaved` (this model and the baseline "
           "in alternating rounds, same process, same inputs) or `separate sessions` (rows before schema 7)"),
    Column("speedup_rounds", "Int64", "interleaved rounds at batch_size"),
    Column("speedup_round_ratios", "object", "each round's baseline / this block median at batch_size (list)"),
    Column("speedup_stopped_by", "string", "what ended the rounds at batch_size: precision (the rounds' own interval reached "
           "±speedup_precision), time cap (max_seconds passed first) or minimum (quick timing, no target); for "
           "rounds pooled from several processes, precision only where every process stopped by it"),
    Column("speedup_pass_rounds", "object", "rounds at batch_size timed in each worker process, in order (list; "
           "speedup_round_ratios holds them one process after another); realized_speedup is the geometric mean of "
           "the processes' median ratios. Empty for rows before schema 10 (one process)"),
    Column("speedup_between_runs_sd", "float64", "relative standard deviation of a speedup between separate runs "
           "on one machine that the speedup intervals add to the rounds' spread (TimingPolicy.between_runs_sd)"),
    Column("interleaved_baseline_p50_ms", "float64", "the baseline's median latency at batch_size in this row's "
           "interleaved rounds"),
    Column("latency_b1_p50_ms", "float64", "median latency at batch 1"),
    Column("latency_b1_p90_ms", "float64", "90th percentile latency at batch 1"),
    Column("latency_b1_p99_ms", "float64", "99th percentile latency at batch 1"),
    Column("latency_b1_mean_ms", "float64", "mean latency at batch 1"),
    Column("latency_b1_std_ms", "float64", "standard deviation of latency at batch 1"),
    Column("latency_b1_p50_ci_low_ms", "float64", "bootstrap 95% interval of latency_b1_p50_ms, low end"),
    Column("latency_b1_p50_ci_high_ms", "float64", "bootstrap 95% interval of latency_b1_p50_ms, high end"),
    Column("latency_b1_samples", "Int64", "timed calls at batch 1"),
    Column("latency_b1_samples_ms", "object", "every timed call's latency at batch 1, in order (list of ms)"),
    Column("realized_speedup_b1", "float64", "realized_speedup at batch 1 (interleaved rounds at batch 1)"),
    Column("realized_speedup_b1_ci_low", "float64", "95% interval of realized_speedup_b1, low end"),
    Column("realized_speedup_b1_ci_high", "float64", "95% interval of realized_speedup_b1, high end"),
    Column("speedup_b1_rounds", "Int64", "interleaved rounds at batch 1"),
    Column("speedup_b1_round_ratios", "object", "each round's baseline / this block median at batch 1 (list)"),
    Column("speedup_b1_stopped_by", "string", "what ended the rounds at batch 1 (as speedup_stopped_by)"),
    Column("speedup_b1_pass_rounds", "object", "rounds at batch 1 timed in each worker process (list)"),
    Column("interleaved_baseline_b1_p50_ms", "float64", "the baseline's median latency at batch 1 in this row's "
           "interleaved rounds"),
    Column("timing_kind", "string", "what one timed call is: `forward` (one forward pass of a batch) or "
           "`generation` (a generative task's prefill of prompt_tokens and greedy decode of new_tokens with the KV "
           "cache; latency columns are then whole generations)"),
    Column("prompt_tokens", "Int64", "tokens of each timed generation's prompt (generative tasks)"),
    Column("new_tokens", "Int64", "tokens each timed generation decodes, end-of-text ignored (generative tasks)"),
    Column("ttft_ms", "float64", "time to first token at batch_size: median prefill time of the timed generations"),
    Column("tpot_ms", "float64", "time per output token at batch_size: median over timed generations of "
           "(generation time - prefill time) / (new_tokens - 1)"),
    Column("tokens_per_s", "float64", "decode throughput at batch_size: batch_size / tpot_ms, in tokens per second"),
    Column("ttft_b1_ms", "float64", "time to first token at batch 1"),
    Column("tpot_b1_ms", "float64", "time per output token at batch 1"),
    Column("tokens_per_s_b1", "float64", "decode throughput at batch 1 (1 / tpot_b1_ms, in tokens per second)"),
    Column("memory_bandwidth_gbps", "float64", "the machine's memory bandwidth in GB/s (STREAM-style triad, "
           "measured once per machine under the timing lock; generative rows)"),
    Column("tpot_floor_b1_ms", "float64", "the bandwidth floor of tpot_b1_ms: model_size_bytes / "
           "memory_bandwidth_gbps, the time to read every weight once (CPU rows of generative tasks)"),
    Column("tpot_floor_fraction", "float64", "tpot_floor_b1_ms / tpot_b1_ms: how close decoding at batch 1 comes to "
           "the machine's memory-bandwidth limit (1: at the limit)"),
    Column("baseline_latency_p50_ms", "float64", "baseline median latency at batch_size, same run and backend"),
    Column("model_size_bytes", "Int64", "bytes of the state dict as serialized by torch.save"),
    Column("baseline_model_size_bytes", "Int64", "the same for the uncompressed model"),
    Column("size_ratio", "float64", "model_size_bytes / baseline_model_size_bytes"),
    Column("params_total", "Int64", "learned values (parameters and quantized weights)"),
    Column("params_nonzero", "Int64", "learned values that are not zero"),
    Column("sparsity", "float64", "1 - params_nonzero / params_total"),
    Column("flops", "Int64", "theoretical dense FLOPs of one forward pass at batch 1"),
    Column("baseline_flops", "Int64", "the same for the uncompressed model"),
    Column("flops_ratio", "float64", "flops / baseline_flops"),
    Column("theoretical_speedup", "float64", "baseline_flops / flops: the speedup the FLOPs promise"),
    Column("speedup_efficiency", "float64", "realized_speedup / theoretical_speedup (1: the FLOPs cut is fully realized)"),
    Column("compile_seconds", "float64", "seconds the backend took to make the model runnable (compilation, export, "
           "session creation) and its first batch-1 call; never part of latency"),
    Column("peak_memory_bytes", "Int64", "resident model tensors + peak extra memory of one call at batch_size"),
    Column("mean_exit_depth", "float64", "dynamic models: blocks/layers run per evaluation sample, on average"),
    Column("model_metrics", "string", "JSON of any other metrics the compressed model reported over the evaluation"),
    Column("compress_seconds", "float64", "wall seconds spent in the method's apply()"),
    Column("finetune_steps", "Int64", "fine-tuning steps the method used"),
    Column("finetune_budget_steps", "Int64", "fine-tuning steps the run allowed"),
    Column("finetune_budget_seconds", "float64", "fine-tuning wall seconds the run allowed"),
    Column("finetune_stopped_by_time", "boolean", "fine-tuning was cut short by the wall-clock budget"),
    Column("calibration_samples", "Int64", "calibration samples the method used"),
    Column("integrity", "string", "integrity checks this row passed, e.g. `passed: outputs, budget, artifact`, "
           "or `failed: <reason>`; empty for rows that were not measured"),
    Column("artifact_sha256", "string", "sha256 of the compressed model's serialized weights (the artifact "
           "`benchsuite submit` saves and re-evaluates)"),
    Column("time_limit_seconds", "float64", "wall-time limit of each phase of the run's worker process"),
    Column("executor", "string", "where the run's cell ran: `local` (one after another on this machine) or `dask`"),
    Column("timed", "boolean", "latency and memory were measured; false for `--accuracy-only` rows (score, size "
           "and FLOPs only), which the leaderboard does not rank"),
    Column("compression_cached", "boolean", "the compressed model came from the artifact cache: `compress_seconds` "
           "and the fine-tuning columns are those of the run that made it"),
    Column("timing_started_at", "datetime64[ns, UTC]", "when the latency measurement began (UTC), under the "
           "host's timing lock"),
    Column("timing_order_seed", "Int64", "seed of the shuffled order in which timed calls cycle through the "
           "latency inputs (reshuffled every pass; the row's seed)"),
    Column("timing_seconds", "float64", "wall seconds the latency measurement (both batch sizes) took, all "
           "processes together"),
    Column("timing_processes", "Int64", "worker processes this row was timed in, one after another, their rounds "
           "and calls pooled (TimingPolicy.processes; 1 with --isolate none or --no-cache, and before schema 10)"),
    Column("timing_lock_wait_seconds", "float64", "seconds this run waited for the host's timing lock (another "
           "run was timing, or doing work that cannot step aside)"),
    Column("yielded_to_timing_seconds", "float64", "seconds this run's compression and evaluation stood aside "
           "while another run on the machine was timing (kept out of `compress_seconds` and the fine-tuning budget)"),
    Column("timing_background_cpu", "float64", "share of the machine's CPU time other processes used while this "
           "run was timed (0: nothing else ran; 0.5 on 2 cores: one core busy throughout)"),
    Column("memory_limit_bytes", "Int64", "resident-memory limit of the run's worker process"),
    Column("cpu_model", "string", "CPU model name"),
    Column("cpu_cores", "Int64", "logical CPU cores of the machine"),
    Column("ram_bytes", "Int64", "physical memory of the machine"),
    Column("os", "string", "operating system"),
    Column("gpu", "string", "GPU name, empty if none"),
    Column("hardware_fingerprint", "string", "hash of cpu_model, cpu_cores, RAM (GiB), gpu and os: rows with the "
           "same value were measured on comparable machines"),
    Column("python_version", "string", "Python version"),
    Column("torch_version", "string", "torch version"),
    Column("transformers_version", "string", "transformers version"),
    Column("benchsuite_version", "string", "benchsuite version"),
)

_SOURCE_OF = {
    **dict.fromkeys(("schema_version", "created_at", "status", "error", "traceback_file"), "row"),
    **dict.fromkeys(("run_id", "executor", "timed", "quick", "seed", "track", "finetune_budget_steps",
                     "finetune_budget_seconds", "task", "task_version", "modality", "metric", "higher_is_better", "config", "method",
                     "method_family", "method_version", "params", "method_plugin", "method_dist",
                     "method_dist_version"), "run"),
    **dict.fromkeys(("cpu_model", "cpu_cores", "ram_bytes", "os", "gpu", "hardware_fingerprint", "python_version",
                     "torch_version", "transformers_version", "benchsuite_version"), "machine"),
    **dict.fromkeys(("backend", "backend_params"), "backend"),
    **dict.fromkeys(("compress_seconds", "finetune_steps", "calibration_samples", "finetune_stopped_by_time",
                     "compression_cached"), "cost"),
    **dict.fromkeys(("time_limit_seconds", "memory_limit_bytes"), "limits"),
    **dict.fromkeys(("baseline_score", "score_delta", "baseline_latency_p50_ms", "realized_speedup",
                     "realized_speedup_ci_low", "realized_speedup_ci_high", "speedup_method", "realized_speedup_b1",
                     "realized_speedup_b1_ci_low", "realized_speedup_b1_ci_high", "baseline_model_size_bytes",
                     "size_ratio", "baseline_flops", "flops_ratio", "theoretical_speedup", "speedup_efficiency"),
                    "relative"),
}
SCHEMA: tuple[Column, ...] = tuple(replace(c, source=_SOURCE_OF.get(c.name, "measured")) for c in _DECLARED)
COLUMNS = tuple(c.name for c in SCHEMA)


class _Names:
    """`COL.latency_p50_ms` is ``"latency_p50_ms"``: column names as attributes, so a misspelt one fails at once
    (AttributeError) instead of writing a column the schema does not have."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.__dict__.update({c.name: c.name for c in columns})

    def of(self, source: str) -> tuple[str, ...]:
        """The names of the columns whose value comes from `source`."""
        return tuple(c.name for c in SCHEMA if c.source == source)


COL = _Names(SCHEMA)


_DTYPES = {c.name: c.dtype for c in SCHEMA}


#: every value `status` may take
STATUSES = ("ok", "failed", "skipped", "timeout", "crashed")


#: columns no row may leave missing or empty
REQUIRED = ("run_id", "status", "task", "method", "backend")


#: columns a measured (status ok) row must fill with a finite number
MEASURED = ("score", "latency_p50_ms", "latency_b1_p50_ms")


#: columns without which a Parquet file is not a results file of any schema version
_CORE = ("schema_version", "run_id", "status", "task", "method", "backend")
