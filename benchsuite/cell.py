"""One cell of a grid: compress a task's reference model with a method pipeline, then measure it on each backend.

The same code runs in a worker subprocess (the default, see isolation.py and worker.py) or in the calling
process (``isolate="none"``). It reports what happens as events, so that a parent watching a worker knows which
phase a crash or a hang belongs to.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .allocator import warm_heap
from .errors import BenchsuiteError, Unsupported
from .hostlock import TimingWindow, busy, timing_lock, yield_to_timing
from .interfaces import Backend, CompressionMethod, MethodContext, Task
from .measure import (LatencyStats, TimingPolicy, count_flops, count_params, evaluate, mean_flops,
                      serialized_weights, time_latency)

QUICK_EVAL_SAMPLES = 256
QUICK_FINETUNE_STEPS = 2
#: closed track: compression may take at most this multiple of the fine-tuning seconds, plus GRACE_SECONDS
BUDGET_WALL_FACTOR = 2.0
BUDGET_GRACE_SECONDS = 300.0


@dataclass(frozen=True)
class CellJob:
    """What one worker runs: a task, a method pipeline and a seed, measured on one or more backends.

    Everything is plain data (names and JSON-able parameters), so a job crosses a process boundary as JSON.
    """

    task: str
    steps: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    seed: int
    backends: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    quick: bool = False
    track: str = "closed"
    finetune_budget_steps: int = 500
    finetune_budget_seconds: float = 900.0
    timing: tuple[tuple[str, Any], ...] = ()
    #: re-evaluate the score from the saved compressed artifact (`benchsuite submit`)
    verify_artifact: bool = False
    #: where the artifact is saved for that check (a submission bundle's folder); None: a temporary folder
    artifact_dir: str | None = None
    #: measure latency and memory; False: score, size and FLOPs only (`--accuracy-only`)
    timed: bool = True
    #: load the compressed model from the artifact cache when it holds it, else store it there
    cache: bool = False
    #: intra-op threads while compressing (0: torch's default). Several Dask workers on one machine split its
    #: cores this way; the backends' timing and evaluation threads are not affected
    compress_threads: int = 0
    #: how the parent loaded its plugins, so the worker loads the same ones
    plugins_dir: str | None = None
    plugin_environ: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CellJob:
        raw = json.loads(text)

        def pairs(items: Any) -> tuple:
            return tuple((str(k), v) for k, v in items)

        return cls(**{**raw, "steps": tuple((n, pairs(p)) for n, p in raw["steps"]),
                      "backends": tuple((n, pairs(p)) for n, p in raw["backends"]),
                      "timing": pairs(raw["timing"]), "plugin_environ": pairs(raw["plugin_environ"])})

    @property
    def eval_limit(self) -> int | None:
        return QUICK_EVAL_SAMPLES if self.quick else None

    @property
    def timing_policy(self) -> TimingPolicy:
        return TimingPolicy.quick() if self.quick else TimingPolicy(**dict(self.timing))


@dataclass(frozen=True)
class Outcome:
    """What became of one backend's run: a status, a one-line reason, and the measured values."""

    status: str  # ok | failed | skipped | timeout | crashed
    error: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    cost: Mapping[str, Any] = field(default_factory=dict)
    traceback: str = ""


    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Outcome:
        """The Outcome a ``result`` event reports."""
        return cls(event["status"], event.get("error", ""), event.get("values", {}), event.get("cost", {}),
                   event.get("traceback", ""))


Events = Callable[[dict[str, Any]], None]


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, BenchsuiteError) else text


def execute(job: CellJob, plugins: Any, task: Task, reference: Any, events: Events,
            bar: Callable[[str, int], Any] | None = None) -> None:
    """Compress once, then measure on each of the job's backends, reporting every phase through `events`:

    ``{"event": "compressing"}``, then ``{"event": "compressed", "cost": {...}}`` or a ``result`` for every
    backend (compression failed or the method refused); per backend ``{"event": "measuring", "backend": i}``
    then ``{"event": "result", "backend": i, "status": ..., "error": ..., "values": {...}, "traceback": ...}``.
    """
    import torch

    warm_heap()  # before anything is timed: see allocator.py
    methods = [plugins.methods.get(name)(**dict(params)) for name, params in job.steps]
    backends = [plugins.backends.get(name)(**dict(params)) for name, params in job.backends]
    events({"event": "compressing"})
    try:
        with busy():  # no timing phase runs on this machine while compressing, except at batch boundaries
            model, cost = compress_or_load(task, reference, methods, job)
    except BaseException as exc:  # SystemExit from a plugin too: it is the plugin's failure, not the worker's
        if isinstance(exc, KeyboardInterrupt):
            raise
        status, reason = ("skipped", str(exc)) if isinstance(exc, Unsupported) else (
            "failed", f"compression failed: {one_line(exc)}")
        for i in range(len(backends)):
            events({"event": "result", "backend": i, "status": status, "error": reason,
                    "traceback": "" if status == "skipped" else traceback.format_exc()})
        return
    events({"event": "compressed", "cost": cost})
    over_budget = budget_problem(job, cost)
    threads_before = torch.get_num_threads()
    for i, ((name, _), backend) in enumerate(zip(job.backends, backends)):
        events({"event": "measuring", "backend": i})
        label = f"{task.name} × {' > '.join(n for n, _ in job.steps)} × {name}"
        try:
            values = measure(task, model, backend, job, label, bar)
            values["yielded_to_timing_seconds"] += cost.get("yielded_to_timing_seconds") or 0.0
            problem = over_budget
            if problem is None and job.verify_artifact:
                problem = artifact_problem(task, model, backend, job, values)
            if problem is not None:
                events({"event": "result", "backend": i, "status": "failed", "error": f"integrity: {problem}",
                        "values": values, "cost": cost})
                continue
            checks = ["outputs", "budget"] + (["artifact"] if job.verify_artifact else [])
            values["integrity"] = "passed: " + ", ".join(checks)
            events({"event": "result", "backend": i, "status": "ok", "values": values, "cost": cost})
        except Unsupported as exc:
            events({"event": "result", "backend": i, "status": "skipped", "error": f"backend {name}: {exc}",
                    "cost": cost})
        except IntegrityError as exc:
            events({"event": "result", "backend": i, "status": "failed", "error": f"integrity: {exc}",
                    "cost": cost, "traceback": traceback.format_exc()})
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            events({"event": "result", "backend": i, "status": "failed",
                    "error": f"measurement failed: {one_line(exc)}", "cost": cost,
                    "traceback": traceback.format_exc()})
        finally:
            torch.set_num_threads(threads_before)


class IntegrityError(BenchsuiteError):
    """A measured model broke an integrity rule (its outputs changed while it was timed)."""


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def compress(task: Task, reference: Any, methods: Sequence[CompressionMethod],
             job: CellJob) -> tuple[Any, dict[str, Any]]:
    """Apply the pipeline's methods in order to a copy of the reference, under one shared budget."""
    import torch

    model = copy.deepcopy(reference)
    context = MethodContext(task=task.info, teacher=reference, seed=job.seed, device=torch.device("cpu"),
                            finetune_budget_steps=job.finetune_budget_steps, train_stream=task.train_batches,
                            batch_size=task.finetune_batch_size,
                            max_steps_per_request=QUICK_FINETUNE_STEPS if job.quick else None,
                            finetune_budget_seconds=job.finetune_budget_seconds,
                            example_inputs=task.example_inputs)
    seed_everything(job.seed)
    threads = torch.get_num_threads()
    if job.compress_threads:
        torch.set_num_threads(job.compress_threads)
    start = time.perf_counter()
    try:
        for method in methods:
            model = method.apply(model, context)
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"{method.name}.apply returned {type(model).__name__}, not a torch.nn.Module")
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start - context.cost.paused_seconds
    model.eval()
    return model, {"compress_seconds": seconds, "finetune_steps": context.cost.finetune_steps,
                   "yielded_to_timing_seconds": context.cost.paused_seconds,
                   "calibration_samples": context.cost.calibration_samples,
                   "finetune_budget_steps": job.finetune_budget_steps,
                   "finetune_budget_seconds": job.finetune_budget_seconds,
                   "finetune_stopped_by_time": context.cost.stopped_by_time}


def compress_or_load(task: Task, reference: Any, methods: Sequence[CompressionMethod],
                     job: CellJob) -> tuple[Any, dict[str, Any]]:
    """`compress`, through the artifact cache when the job allows it: a model the cache holds for the same content
    key is loaded instead (its cost is the cost of the compression that made it, `compression_cached` true)."""
    if not job.cache or all(m.name == "baseline" for m in methods):
        model, cost = compress(task, reference, methods, job)
        return model, {**cost, "compression_cached": False}
    import sys

    import torch

    from .artifacts import ArtifactCache, content_key, source_digest
    from .paths import cache_dir
    from .store import benchsuite_version

    fields = {"task": task.name, "task_version": task.version, "seed": job.seed, "quick": job.quick,
              "track": job.track, "finetune_budget_steps": job.finetune_budget_steps,
              "finetune_budget_seconds": job.finetune_budget_seconds,
              "steps": [[m.name, m.version, dict(params), source_digest(m)] for m, (_, params) in zip(methods, job.steps)],
              "benchsuite_version": benchsuite_version(), "torch_version": torch.__version__}
    key = content_key(fields)
    cache = ArtifactCache(cache_dir())
    with cache.lock(key):  # a second worker compressing the same thing waits, then loads it
        hit = cache.get(key)
        if hit is not None:
            model, info = hit
            model.eval()
            return model, {**info, "compression_cached": True}
        model, cost = compress(task, reference, methods, job)
        description = f"{task.name} × {' > '.join(n for n, _ in job.steps)} seed {job.seed}" + (
            " (quick)" if job.quick else "")
        problem = cache.put(key, model, cost, fields, description)
        if problem is not None:
            print(f"benchsuite: {description}: {problem}", file=sys.stderr)
    return model, {**cost, "compression_cached": False}


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _sample_inputs(task: Task, limit: int | None) -> tuple:
    """The first evaluation batch, at the task batch size (a new shape could make a compiler recompile before
    timing): the sample on which the outputs after timing are compared with the accuracy phase's."""
    inputs, _ = next(iter(task.eval_batches(task.batch_size, limit)))
    return inputs


def _outputs_differ(before: Any, after: Any) -> str | None:
    import torch

    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor)):
        return None
    a, b = before.detach().float().cpu(), after.detach().float().cpu()
    if a.shape != b.shape:
        return f"output shape changed from {tuple(a.shape)} to {tuple(b.shape)}"
    scale = float(a.abs().max()) if a.numel() else 0.0
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    if not math.isfinite(diff) or diff > 1e-3 * max(scale, 1.0):
        return f"largest output difference {diff:.3g} (outputs up to {scale:.3g})"
    return None


def measure(task: Task, model: Any, backend: Backend, job: CellJob, label: str,
            bar: Callable[[str, int], Any] | None = None) -> dict[str, Any]:
    """Score, time and size `model` on `backend`; raises IntegrityError if its outputs change while timed."""
    import torch

    def to_device(inputs: tuple) -> tuple:
        return tuple(t.to(backend.device) for t in inputs)

    with busy():  # compiling and scoring: no timing phase runs beside them, except at batch boundaries
        scored = _prepare_and_score(task, model, backend, job, label, bar, to_device)
    values = {**scored.values, "timed": job.timed, "yielded_to_timing_seconds": scored.stood_aside}
    if not job.timed:
        return values
    fn = scored.fn
    values.update(_timed(task, fn, backend, job, to_device))
    with torch.inference_mode():
        after = fn(*scored.sample)  # the same sample once the model has been timed
    problem = _outputs_differ(scored.before, after)
    if problem is not None:
        raise IntegrityError(f"outputs after timing differ from the accuracy phase on {len(scored.sample[0])} "
                             f"evaluation inputs ({problem}); a model must compute the same function while timed")
    values["peak_memory_bytes"] = backend.peak_memory_bytes(scored.model, fn,
                                                            to_device(task.example_inputs(task.batch_size)))
    return values


@dataclass(frozen=True)
class _Scored:
    """A model prepared on a backend and scored: the values measured so far, the prepared callable, and the
    sample (with its outputs) that the integrity check calls again after timing."""

    values: dict[str, Any]
    fn: Callable[..., Any]
    model: Any
    sample: tuple
    before: Any
    #: seconds the evaluation stood aside while another run on the machine was timing
    stood_aside: float


def _prepare_and_score(task: Task, model: Any, backend: Backend, job: CellJob, label: str,
                       bar: Callable[[str, int], Any] | None, to_device: Callable[[tuple], tuple]) -> _Scored:
    """Size, count, prepare (compile) and score a copy of `model` on `backend`."""
    import torch

    model = copy.deepcopy(model)
    batch_inputs = to_device(task.example_inputs(task.batch_size))
    counts = getattr(model, "benchsuite_counts", None)  # models that are not torch graphs (ONNX) count themselves
    weights = serialized_weights(model)
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

    eval_total = job.eval_limit or task.eval_size
    progress = bar(f"{label}: evaluating", eval_total) if bar is not None else _NoBar()
    if callable(report):
        report()  # reset the counters
    stood_aside = 0.0

    def batches() -> Any:
        nonlocal stood_aside
        for x, y in task.eval_batches(task.batch_size, job.eval_limit):
            stood_aside += yield_to_timing()
            yield to_device(x), y

    scored = evaluate(fn, batches(), task.metric, on_batch=progress.update, extra=task.extra_metrics)
    model_metrics = {k: float(v) for k, v in report().items()} if callable(report) else {}
    sample = to_device(_sample_inputs(task, job.eval_limit))
    with torch.inference_mode():
        before = fn(*sample)  # the accuracy phase's outputs on the sample
    progress.close()
    return _Scored({
        "threads": settings.get("threads"),
        "allocator": warm_heap(),
        "device": backend.device,
        "score": scored.score,
        "score_ci_low": scored.interval[0] if scored.interval else None,
        "score_ci_high": scored.interval[1] if scored.interval else None,
        "extra_scores": json.dumps(scored.extras, sort_keys=True) if scored.extras else "",
        "eval_samples": scored.samples,
        "batch_size": task.batch_size,
        "model_size_bytes": len(weights),
        "artifact_sha256": hashlib.sha256(weights).hexdigest(),
        "params_total": total,
        "params_nonzero": nonzero,
        "sparsity": 1.0 - nonzero / total if total else None,
        "flops": flops,
        "compile_seconds": compile_seconds,
        "mean_exit_depth": model_metrics.get("mean_exit_depth"),
        "model_metrics": json.dumps(model_metrics, sort_keys=True) if model_metrics else "",
    }, fn, model, sample, before, stood_aside)


def _timed(task: Task, fn: Callable[..., Any], backend: Backend, job: CellJob,
           to_device: Callable[[tuple], tuple]) -> dict[str, Any]:
    """Latency at the task batch size and at batch 1, holding the host's timing lock (hostlock.py): no other
    benchsuite timing phase runs on this machine meanwhile."""
    from datetime import datetime, timezone

    policy = job.timing_policy
    at_batch_inputs = [to_device(x) for x in task.latency_inputs(task.batch_size)]
    at_one_inputs = [to_device(x) for x in task.latency_inputs(1)]
    with timing_lock() as waited, TimingWindow() as window:
        started = datetime.now(timezone.utc)
        at_batch = time_latency(fn, at_batch_inputs, policy, backend.timed_call)
        at_one = time_latency(fn, at_one_inputs, policy, backend.timed_call)
        ended = datetime.now(timezone.utc)
    return {
        **latency_columns("latency", at_batch),
        "latency_warmup_calls": at_batch.warmup_calls,
        "latency_steady": at_batch.steady and at_one.steady,
        "throughput_sps": at_batch.throughput_sps(task.batch_size),
        **latency_columns("latency_b1", at_one),
        "timing_lock_wait_seconds": waited,
        "timing_started_at": started.isoformat(),
        "timing_seconds": (ended - started).total_seconds(),
        "timing_background_cpu": window.background_cpu,
    }


def latency_columns(prefix: str, stats: LatencyStats) -> dict[str, Any]:
    ci = stats.p50_ci_ms()
    return {
        f"{prefix}_p50_ms": stats.p50_ms, f"{prefix}_p90_ms": stats.p90_ms, f"{prefix}_p99_ms": stats.p99_ms,
        f"{prefix}_mean_ms": stats.mean_ms, f"{prefix}_std_ms": stats.std_ms, f"{prefix}_samples": stats.samples,
        f"{prefix}_p50_ci_low_ms": ci[0] if ci else None, f"{prefix}_p50_ci_high_ms": ci[1] if ci else None,
        f"{prefix}_samples_ms": [float(v) for v in stats.samples_ms],
    }


def budget_problem(job: CellJob, cost: Mapping[str, Any]) -> str | None:
    """Why a closed-track run broke the shared budget, or None."""
    if job.track != "closed":
        return None
    if cost["finetune_steps"] > job.finetune_budget_steps:
        return (f"closed track allows {job.finetune_budget_steps} fine-tuning steps, the method took "
                f"{cost['finetune_steps']}; run it on --track open")
    wall = BUDGET_WALL_FACTOR * job.finetune_budget_seconds + BUDGET_GRACE_SECONDS
    if cost["compress_seconds"] > wall:
        return (f"closed track allows {wall:.0f} s of compression (twice the {job.finetune_budget_seconds:.0f} s "
                f"fine-tuning budget plus {BUDGET_GRACE_SECONDS:.0f} s), the method took "
                f"{cost['compress_seconds']:.0f} s; run it on --track open")
    return None


def artifact_problem(task: Task, model: Any, backend: Backend, job: CellJob,
                     values: Mapping[str, Any]) -> str | None:
    """Reload the saved artifact (weights_only) into a fresh copy of the model, re-score it on the same backend,
    and compare with the reported score and hash. Returns why they disagree, or None."""
    import torch

    data = serialized_weights(model)
    digest = hashlib.sha256(data).hexdigest()
    if digest != values["artifact_sha256"]:
        return f"the model's weights changed while it was measured (artifact sha256 {digest[:12]}…)"
    import tempfile
    from pathlib import Path

    folder = Path(job.artifact_dir) if job.artifact_dir else Path(tempfile.mkdtemp(prefix="benchsuite-artifact-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.pt"
    path.write_bytes(data)
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        return f"the saved artifact {path} does not hash to {digest[:12]}…"
    state = torch.load(path, weights_only=True)
    if not job.artifact_dir:
        path.unlink()
        folder.rmdir()
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        for tensor in fresh.state_dict().values():  # the score must come from the artifact, not from what remains
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not tensor.is_quantized:
                tensor.zero_()
    fresh.load_state_dict(state, strict=True)
    fresh.eval()
    to_device = lambda inputs: tuple(t.to(backend.device) for t in inputs)  # noqa: E731
    fn = backend.prepare(fresh, to_device(task.example_inputs(task.batch_size)))
    batches = ((to_device(x), y) for x, y in task.eval_batches(task.batch_size, job.eval_limit))
    rescored = evaluate(fn, batches, task.metric).score
    if not math.isclose(rescored, values["score"], rel_tol=0, abs_tol=1e-9):
        return (f"the score re-evaluated from the saved artifact is {rescored:.6g}, the run reported "
                f"{values['score']:.6g}")
    return None
