"""Expands a selection into a grid and runs it: one (task, method configuration, backend) at a time.

Each task's baseline is measured first on every backend, in the same session, so that every row carries its
own baseline score, latency and size. A failure in one cell becomes a `failed` row; the grid carries on.
"""

from __future__ import annotations

import copy
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import BenchsuiteError, Unsupported, UsageError
from .hardware import machine_info, software_info
from .allocator import warm_heap
from .interfaces import Availability, Backend, CompressionMethod, MethodContext, Task
from .measure import (LatencyStats, TimingPolicy, count_flops, count_params, evaluate, mean_flops,
                      serialized_size_bytes, time_latency)
from .params import Spec, format_spec, params_json, parse_spec, parse_values
from .paths import cache_dir
from .plugins import Plugins
from .stats import bootstrap_ratio_ci
from .store import COLUMNS, ResultStore

BASELINE = "baseline"
QUICK_EVAL_SAMPLES = 256
QUICK_FINETUNE_STEPS = 2


@dataclass(frozen=True)
class Config:
    """A method or backend name with its resolved parameters (hashable, in declaration order)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, params: Mapping[str, Any]) -> Config:
        return cls(name, tuple(params.items()))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def spec(self) -> str:
        return format_spec(self.name, self.kwargs)


@dataclass(frozen=True)
class Pipeline:
    """One method configuration, or several applied in order (``a:x=1 > b``)."""

    steps: tuple[Config, ...]

    @property
    def spec(self) -> str:
        return " > ".join(step.spec for step in self.steps)

    @property
    def is_baseline(self) -> bool:
        return self.steps == (Config(BASELINE),)


TRACKS = ("closed", "open")
#: the shared fine-tuning budget of the closed track, the same for every method
CLOSED_BUDGET_STEPS = 500
CLOSED_BUDGET_SECONDS = 900.0
SUITES = ("standard", "full")


@dataclass(frozen=True)
class RunOptions:
    """How a grid is run.

    :param quick: small evaluation subset, short timing, fine-tuning capped; rows are marked `quick`.
    :param seeds: each seeds compression, fine-tuning and data order; a method that is not `deterministic`
        runs once per seed (deterministic ones and the baseline run once, with the first seed).
    :param track: ``closed`` (calibration plus at most the shared fine-tuning budget) or ``open`` (any budget).
    :param finetune_budget_steps: the most fine-tuning steps a configuration may take (all pipeline steps together).
    :param finetune_budget_seconds: the most wall seconds of fine-tuning; batches stop coming after it.
    """

    quick: bool = False
    seeds: tuple[int, ...] = (0,)
    track: str = "closed"
    finetune_budget_steps: int = CLOSED_BUDGET_STEPS
    finetune_budget_seconds: float = CLOSED_BUDGET_SECONDS
    timing: TimingPolicy = field(default_factory=TimingPolicy)

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be distinct integers >= 0, got {list(self.seeds)}; e.g. --seeds 0,1,2")
        if self.track not in TRACKS:
            raise UsageError(f"unknown track {self.track!r}; use one of {', '.join(TRACKS)}")
        if self.track == "closed" and (self.finetune_budget_steps, self.finetune_budget_seconds) != (
                CLOSED_BUDGET_STEPS, CLOSED_BUDGET_SECONDS):
            raise UsageError(f"the closed track uses the shared budget of {CLOSED_BUDGET_STEPS} steps and "
                             f"{CLOSED_BUDGET_SECONDS:g} s; use --track open to set another")
        if self.finetune_budget_steps < 0 or not self.finetune_budget_seconds > 0:
            raise UsageError("fine-tuning budgets must be >= 0 steps and > 0 seconds")

    @property
    def eval_limit(self) -> int | None:
        return QUICK_EVAL_SAMPLES if self.quick else None

    @property
    def timing_policy(self) -> TimingPolicy:
        return TimingPolicy.quick() if self.quick else self.timing


@dataclass(frozen=True)
class Grid:
    """A validated selection: task names, method pipelines (baseline first), backend configurations."""

    tasks: tuple[str, ...]
    methods: tuple[Pipeline, ...]
    backends: tuple[Config, ...]

    def __len__(self) -> int:
        return len(self.tasks) * len(self.methods) * len(self.backends)


def _spec(item: str | Spec) -> Spec:
    return item if isinstance(item, Spec) else parse_spec(item)


def parse_pipeline(plugins: Plugins, text: str) -> Pipeline:
    """``"magnitude-pruning:sparsity=0.5 > dynamic-int8"`` -> a validated Pipeline."""
    steps = []
    for part in text.split(">"):
        if not part.strip():
            raise UsageError(f"empty step in method pipeline {text!r}; write a:k=v > b")
        spec = parse_spec(part)
        cls = plugins.methods.get(spec.name)
        steps.append(Config.of(spec.name, parse_values(spec.name, cls.parameters, spec.raw_params)))
    return Pipeline(tuple(steps))


def build_grid(plugins: Plugins, tasks: Sequence[str] = (), methods: Sequence[str] = (),
               backends: Sequence[str | Spec] = (), suite: str = "standard") -> Grid:
    """Validate a selection; empty method/task/backend selections mean the suite. Raises UsageError on bad input.

    :param suite: ``standard`` runs each built-in method's headline configurations; ``full`` adds its sweep.
    """
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}; use one of {', '.join(SUITES)}")
    task_names = tuple(dict.fromkeys(tasks)) or tuple(e.name for e in plugins.tasks
                                                      if e.obj.standard_suite or suite == "full")
    for name in task_names:
        plugins.tasks.entry(name)
    if not task_names:
        raise UsageError("no tasks are registered; check `benchsuite plugins` for plugins that failed to load")

    pipelines: list[Pipeline] = []
    if methods:
        pipelines = [parse_pipeline(plugins, text) for text in methods]
    else:
        for entry in plugins.methods:
            if plugins.infos[entry.plugin].source == "builtin":
                configs = list(entry.obj.standard_configs) if entry.obj.standard_suite or suite == "full" else []
                if suite == "full":
                    configs += list(entry.obj.sweep_configs)
                for overrides in configs:
                    pipelines.append(Pipeline((Config.of(entry.name, entry.obj(**overrides).params),)))
    if BASELINE not in plugins.methods:
        raise UsageError("the baseline method is not registered (is builtin.methods.baseline blocked?)")
    baseline = Pipeline((Config(BASELINE),))
    pipelines = [baseline] + [p for p in dict.fromkeys(pipelines) if p != baseline]

    backend_configs = []
    for spec in map(_spec, backends):
        cls = plugins.backends.get(spec.name)
        backend_configs.append(Config.of(spec.name, parse_values(spec.name, cls.parameters, spec.raw_params)))
    if not backends:  # the suite: every backend that is available here
        backend_configs = [Config.of(e.name, b.params) for e in plugins.backends
                           if (b := _available_backend(e.obj)) is not None]
    if not backend_configs:
        raise UsageError("no backend is available; check `benchsuite plugins --verbose`")
    return Grid(task_names, tuple(pipelines), tuple(dict.fromkeys(backend_configs)))


def _available_backend(cls: type[Backend]) -> Backend | None:
    try:
        backend = cls()
        return backend if backend.availability().ok else None
    except Exception:
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, BenchsuiteError) else text


@dataclass
class _Baseline:
    score: float | None = None
    latency_p50_ms: float | None = None
    latency_b1_p50_ms: float | None = None
    model_size_bytes: int | None = None
    flops: int | None = None
    latency_samples_ms: tuple[float, ...] = ()
    latency_b1_samples_ms: tuple[float, ...] = ()


class Progress:
    """Progress bars (stderr, only on a terminal) and one log line per finished cell."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.grid = tqdm(total=total, desc="grid", unit="run", position=0, disable=None if enabled else True,
                         leave=True)
        self.done = 0
        self.total = total

    def cell(self, label: str, total: int) -> Any:
        return self._tqdm(total=total, desc=label, unit="sample", position=1, leave=False,
                          disable=None if self.enabled else True)

    def finished(self, row: Mapping[str, Any]) -> None:
        self.done += 1
        self.grid.update(1)
        if not self.enabled:
            return
        label = f"{row['task']} × {row['config']} × {row['backend']}"
        if row["status"] == "ok":
            detail = (f"{row['metric']}={row['score']:.4f} p50={row['latency_p50_ms']:.2f}ms "
                      f"speedup={row['realized_speedup'] if row['realized_speedup'] is not None else float('nan'):.2f}x "
                      f"size={row['model_size_bytes'] / 1e6:.2f}MB")
        else:
            detail = row["error"]
        self._tqdm.write(f"[{self.done}/{self.total}] {label}: {row['status']} {detail}", file=sys.stderr)

    def close(self) -> None:
        self.grid.close()


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _seeds_of(plugins: Plugins, pipeline: Pipeline, options: RunOptions) -> tuple[int, ...]:
    deterministic = all(plugins.methods.get(step.name).deterministic for step in pipeline.steps)
    return options.seeds[:1] if deterministic else options.seeds


def cell_count(plugins: Plugins, grid: Grid, options: RunOptions) -> int:
    """Rows the grid will produce: methods that are not deterministic run once per seed."""
    runs = sum(len(_seeds_of(plugins, pipeline, options)) for pipeline in grid.methods)
    return len(grid.tasks) * runs * len(grid.backends)


def run_grid(plugins: Plugins, grid: Grid, options: RunOptions = RunOptions(),
             store: ResultStore | None = None, progress: bool = True,
             on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run every cell of `grid`; append each finished row to `store` at once. Returns the rows."""
    run_id = uuid.uuid4().hex[:12]
    allocator = warm_heap()  # before anything is timed: see allocator.py
    bars = Progress(cell_count(plugins, grid, options), enabled=progress)
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if store is not None:
            store.append([row])
        bars.finished(row)
        if on_row is not None:
            on_row(row)

    backends: list[tuple[Config, Backend | None, Availability]] = []
    for config in grid.backends:
        try:
            backend = plugins.backends.get(config.name)(**config.kwargs)
            backends.append((config, backend, backend.availability()))
        except Exception as exc:
            backends.append((config, None, Availability(False, _one_line(exc))))

    session = _Session(plugins, options, run_id, bars, emit, backends)
    try:
        for task_name in grid.tasks:
            state = _TaskState(plugins.tasks.get(task_name), baselines={c: _Baseline() for c, _, _ in backends})
            try:
                state.task = state.task()
                available = state.task.availability()
                if not available.ok:
                    state.unavailable = f"task {task_name} unavailable: {available.reason}"
                else:
                    state.reference = state.task.reference_model(cache_dir())
            except Exception as exc:
                state.setup_error = f"task {task_name} could not be set up: {_one_line(exc)}"
            for pipeline in grid.methods:
                for seed in _seeds_of(plugins, pipeline, options):
                    _run_cell(session, state, pipeline, seed)
    finally:
        bars.close()
    return rows


@dataclass(frozen=True)
class _Session:
    """What every cell of one `run_grid` shares."""

    plugins: Plugins
    options: RunOptions
    run_id: str
    bars: Progress
    emit: Callable[[dict[str, Any]], None]
    backends: Sequence[tuple[Config, Backend | None, Availability]]


@dataclass
class _TaskState:
    """One task of the grid: its reference model (or why it has none) and its baselines per backend."""

    task: Any
    reference: Any = None
    setup_error: str | None = None
    #: why the task cannot run here (e.g. a hub task without a network): its rows are skipped
    unavailable: str | None = None
    baselines: dict[Config, _Baseline] = field(default_factory=dict)


def _run_cell(session: _Session, state: _TaskState, pipeline: Pipeline, seed: int) -> None:
    """Compress once with `seed`, then measure on every backend; one row per backend."""
    import torch

    task, options, backends, emit = state.task, session.options, session.backends, session.emit
    methods = [session.plugins.methods.get(c.name)(**c.kwargs) for c in pipeline.steps]
    base_row = _row_template(session.run_id, task, pipeline, methods, session.plugins, options, seed)
    model, compress_error, skip_reason, cost = None, state.setup_error, state.unavailable, {}
    refusals = {config: _refusal(config, backend, methods) for config, backend, _ in backends}
    if compress_error is None and skip_reason is None:
        skip_reason = next(filter(None, (m.supports(task.info) for m in methods)), None)
        runnable = any(b is not None and a.ok and refusals[c] is None for c, b, a in backends)
        if skip_reason is None and runnable:
            try:
                model, cost = _compress(task, state.reference, methods, options, seed)
            except Unsupported as exc:
                skip_reason = str(exc)
            except Exception as exc:
                compress_error = f"compression failed: {_one_line(exc)}"
    threads_before = torch.get_num_threads()
    for config, backend, available in backends:
        if skip_reason is not None:
            emit(_finish(base_row, config, backend, status="skipped", error=skip_reason))
        elif backend is None or not available.ok:
            emit(_finish(base_row, config, backend, status="skipped",
                         error=f"backend {config.name} unavailable: {available.reason}"))
        elif refusals[config] is not None:
            emit(_finish(base_row, config, backend, status="skipped", error=refusals[config]))
        elif compress_error is not None:
            emit(_finish(base_row, config, backend, status="failed", error=compress_error, **cost))
        else:
            label = f"{task.name} × {pipeline.spec} × {config.name}"
            try:
                measured = _measure(task, model, backend, options, session.bars, label)
            except Unsupported as exc:
                emit(_finish(base_row, config, backend, status="skipped", error=f"backend {config.name}: {exc}",
                             **cost))
                continue
            except Exception as exc:
                emit(_finish(base_row, config, backend, status="failed",
                             error=f"measurement failed: {_one_line(exc)}", **cost))
                continue
            finally:
                torch.set_num_threads(threads_before)
            if pipeline.is_baseline:
                state.baselines[config] = _Baseline(measured["score"], measured["latency_p50_ms"],
                                              measured["latency_b1_p50_ms"], measured["model_size_bytes"],
                                              measured["flops"], measured["latency_samples_ms"],
                                              measured["latency_b1_samples_ms"])
            emit(_finish(base_row, config, backend, status="ok", **cost, **measured,
                         **_relative(measured, state.baselines[config], seed)))


def _refusal(config: Config, backend: Backend | None, methods: Sequence[CompressionMethod]) -> str | None:
    """Why `backend` will not run the model `methods` make (device, backend or native kernels), or None."""
    if backend is None:
        return None
    kernels = frozenset().union(*(m.kernels for m in methods))
    try:
        reason = next(filter(None, (m.runs_on(backend) for m in methods)), None)
        if reason is not None:
            return reason
        reason = backend.supports(kernels) if kernels else None
    except Exception as exc:
        reason = f"supports() failed: {_one_line(exc)}"
    return f"backend {config.name}: {reason}" if reason else None


def _compress(task: Task, reference: Any, methods: Sequence[CompressionMethod],
              options: RunOptions, seed: int) -> tuple[Any, dict[str, Any]]:
    """Apply the pipeline's methods in order to a copy of the reference, under one shared budget."""
    import torch

    model = copy.deepcopy(reference)
    context = MethodContext(task=task.info, teacher=reference, seed=seed, device=torch.device("cpu"),
                            finetune_budget_steps=options.finetune_budget_steps, train_stream=task.train_batches,
                            batch_size=task.finetune_batch_size,
                            max_steps_per_request=QUICK_FINETUNE_STEPS if options.quick else None,
                            finetune_budget_seconds=options.finetune_budget_seconds,
                            example_inputs=task.example_inputs)
    _seed_everything(seed)
    start = time.perf_counter()
    for method in methods:
        model = method.apply(model, context)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"{method.name}.apply returned {type(model).__name__}, not a torch.nn.Module")
    seconds = time.perf_counter() - start
    model.eval()
    return model, {"compress_seconds": seconds, "finetune_steps": context.cost.finetune_steps,
                   "calibration_samples": context.cost.calibration_samples,
                   "finetune_budget_steps": options.finetune_budget_steps,
                   "finetune_budget_seconds": options.finetune_budget_seconds,
                   "finetune_stopped_by_time": context.cost.stopped_by_time}


def _measure(task: Task, model: Any, backend: Backend, options: RunOptions, bars: Progress,
             label: str) -> dict[str, Any]:
    import torch

    def to_device(inputs: tuple) -> tuple:
        return tuple(t.to(backend.device) for t in inputs)

    model = copy.deepcopy(model)
    batch_inputs = to_device(task.example_inputs(task.batch_size))
    counts = getattr(model, "benchsuite_counts", None)  # models that are not torch graphs (ONNX) count themselves
    size = serialized_size_bytes(model)
    report = getattr(model, "benchsuite_metrics", None)  # dynamic models report e.g. their mean exit depth
    if callable(counts):
        total, nonzero, flops = (counts()[k] for k in ("params_total", "params_nonzero", "flops"))
    else:
        total, nonzero = count_params(model)
        if callable(report):  # a dynamic model's cost depends on the input: average over the batch-1 inputs
            flops = mean_flops(model, task.latency_inputs(1))
        else:
            flops = count_flops(model, task.example_inputs(1))
    start = time.perf_counter()
    fn = backend.prepare(model, batch_inputs)
    with torch.inference_mode():
        fn(*to_device(task.example_inputs(1)))  # compilers compile on first call: that belongs here, not in latency
    backend.synchronize()
    compile_seconds = time.perf_counter() - start
    settings = backend.settings()

    eval_total = options.eval_limit or task.eval_size
    bar = bars.cell(f"{label}: evaluating", eval_total)
    if callable(report):
        report()  # reset the counters
    batches = ((to_device(x), y) for x, y in task.eval_batches(task.batch_size, options.eval_limit))
    scored = evaluate(fn, batches, task.metric, on_batch=bar.update, extra=task.extra_metrics)
    model_metrics = {k: float(v) for k, v in report().items()} if callable(report) else {}
    bar.set_description(f"{label}: timing")
    policy = options.timing_policy
    at_batch = time_latency(fn, [to_device(x) for x in task.latency_inputs(task.batch_size)], policy,
                            backend.timed_call)
    at_one = time_latency(fn, [to_device(x) for x in task.latency_inputs(1)], policy, backend.timed_call)
    peak = backend.peak_memory_bytes(model, fn, batch_inputs)
    bar.close()
    return {
        "threads": settings.get("threads"),
        "allocator": warm_heap(),
        "device": backend.device,
        "score": scored.score,
        "score_ci_low": scored.interval[0] if scored.interval else None,
        "score_ci_high": scored.interval[1] if scored.interval else None,
        "extra_scores": json.dumps(scored.extras, sort_keys=True) if scored.extras else "",
        "eval_samples": scored.samples,
        "batch_size": task.batch_size,
        **_latency_columns("latency", at_batch),
        "latency_warmup_calls": at_batch.warmup_calls,
        "latency_steady": at_batch.steady and at_one.steady,
        "throughput_sps": at_batch.throughput_sps(task.batch_size),
        **_latency_columns("latency_b1", at_one),
        "model_size_bytes": size,
        "params_total": total,
        "params_nonzero": nonzero,
        "sparsity": 1.0 - nonzero / total if total else None,
        "flops": flops,
        "compile_seconds": compile_seconds,
        "peak_memory_bytes": peak,
        "mean_exit_depth": model_metrics.get("mean_exit_depth"),
        "model_metrics": json.dumps(model_metrics, sort_keys=True) if model_metrics else "",
    }


def _latency_columns(prefix: str, stats: LatencyStats) -> dict[str, Any]:
    ci = stats.p50_ci_ms()
    return {
        f"{prefix}_p50_ms": stats.p50_ms, f"{prefix}_p90_ms": stats.p90_ms, f"{prefix}_p99_ms": stats.p99_ms,
        f"{prefix}_mean_ms": stats.mean_ms, f"{prefix}_std_ms": stats.std_ms, f"{prefix}_samples": stats.samples,
        f"{prefix}_p50_ci_low_ms": ci[0] if ci else None, f"{prefix}_p50_ci_high_ms": ci[1] if ci else None,
        f"{prefix}_samples_ms": list(stats.samples_ms),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _relative(measured: Mapping[str, Any], baseline: _Baseline, seed: int) -> dict[str, Any]:
    realized = _ratio(baseline.latency_p50_ms, measured["latency_p50_ms"])
    theoretical = _ratio(baseline.flops, measured["flops"])
    ci = bootstrap_ratio_ci(baseline.latency_samples_ms, measured["latency_samples_ms"], seed=seed)
    ci_b1 = bootstrap_ratio_ci(baseline.latency_b1_samples_ms, measured["latency_b1_samples_ms"], seed=seed)
    return {
        "baseline_score": baseline.score,
        "score_delta": measured["score"] - baseline.score if baseline.score is not None else None,
        "baseline_latency_p50_ms": baseline.latency_p50_ms,
        "realized_speedup": realized,
        "realized_speedup_ci_low": ci[0] if ci else None,
        "realized_speedup_ci_high": ci[1] if ci else None,
        "realized_speedup_b1": _ratio(baseline.latency_b1_p50_ms, measured["latency_b1_p50_ms"]),
        "realized_speedup_b1_ci_low": ci_b1[0] if ci_b1 else None,
        "realized_speedup_b1_ci_high": ci_b1[1] if ci_b1 else None,
        "baseline_model_size_bytes": baseline.model_size_bytes,
        "size_ratio": _ratio(measured["model_size_bytes"], baseline.model_size_bytes),
        "baseline_flops": baseline.flops,
        "flops_ratio": _ratio(measured["flops"], baseline.flops),
        "theoretical_speedup": theoretical,
        "speedup_efficiency": _ratio(realized, theoretical),
    }


def _row_template(run_id: str, task: Task | type[Task], pipeline: Pipeline, methods: Sequence[CompressionMethod],
                  plugins: Plugins, options: RunOptions, seed: int) -> dict[str, Any]:
    entries = [plugins.methods.entry(m.name) for m in methods]
    dists = [plugins.dist_of(e.plugin) for e in entries]

    def joined(values: Sequence[str]) -> str:
        return " > ".join(values)

    params = [dict(step.params) for step in pipeline.steps]
    return {
        "run_id": run_id, "quick": options.quick, "seed": seed, "track": options.track,
        "task": task.name, "task_version": task.version, "modality": task.modality,
        "metric": task.metric.name, "higher_is_better": task.metric.higher_is_better,
        "config": pipeline.spec, "method": joined([m.name for m in methods]),
        "method_family": joined([m.family for m in methods]), "method_version": joined([m.version for m in methods]),
        "params": params_json(params[0]) if len(params) == 1 else json.dumps(params, sort_keys=True),
        "method_plugin": joined([e.plugin for e in entries]),
        "method_dist": joined([d for d, _ in dists]), "method_dist_version": joined([v for _, v in dists]),
        **machine_info(), **software_info(),
    }


def _finish(base: Mapping[str, Any], backend_config: Config, backend: Backend | None, *, status: str,
            error: str = "", **values: Any) -> dict[str, Any]:
    row = {**{k: None for k in COLUMNS if k != "schema_version"}, **base, **values}
    row.update(status=status, error=error, backend=backend_config.name,
               backend_params=params_json(backend_config.kwargs),
               created_at=datetime.now(timezone.utc))
    if row["device"] is None and backend is not None:
        row["device"] = backend.device
    return row


def run(tasks: Sequence[str] = (), methods: Sequence[str] = (), backends: Sequence[str] = (), *,
        store: str | None = None, quick: bool = False, seeds: Sequence[int] = (0,), suite: str = "standard",
        track: str = "closed", finetune_budget_steps: int = CLOSED_BUDGET_STEPS,
        finetune_budget_seconds: float = CLOSED_BUDGET_SECONDS, plugins_dir: str | None = None,
        progress: bool = False) -> Any:
    """Run a grid from Python and return its rows as a DataFrame (also appended to the store).

    Arguments are spelled as on the command line: ``run(["mnist-cnn"], ["magnitude-pruning:sparsity=0.7"])``.
    """
    from .plugins import load_plugins
    from .store import to_frame

    plugins = load_plugins(plugins_dir)
    grid = build_grid(plugins, tasks, methods, backends, suite=suite)
    options = RunOptions(quick=quick, seeds=tuple(seeds), track=track, finetune_budget_steps=finetune_budget_steps,
                         finetune_budget_seconds=finetune_budget_seconds)
    rows = run_grid(plugins, grid, options, ResultStore(store), progress=progress)
    return to_frame(rows)
