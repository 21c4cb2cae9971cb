"""Measuring a compressed model on one backend: size, counts and FLOPs, compile, score (also at batch 1 where
outputs depend on the batch), then latency at the task batch size and at batch 1, interleaved with the baseline,
under the host's timing lock (execution/timed.py), with the integrity checks; `retime` is another worker process's
timing of the same model (execution/passes.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from benchsuite.errors import BenchsuiteError
from benchsuite.execution.hostlock import busy, yield_to_timing
from benchsuite.execution.job import CellJob
from benchsuite.execution.timed import timed, timed_generation
from benchsuite.measure.allocator import warm_heap
from benchsuite.measure.counts import (
    count_flops,
    count_params,
    mean_flops,
    serialized_weights,
)
from benchsuite.measure.evaluation import evaluate
from benchsuite.measure.generation import Generator
from benchsuite.results.schema import COL
from benchsuite.sdk.interfaces import Backend, Task


class IntegrityError(BenchsuiteError):
    """A measured model broke an integrity rule (its outputs changed while it was timed)."""


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
            bar: Callable[[str, int], Any] | None = None, reference: Any = None,
            batch_dependent: bool = False) -> dict[str, Any]:
    """Score, time and size `model` on `backend`; raises IntegrityError if its outputs change while timed.

    :param reference: the uncompressed model, prepared on the same backend and timed interleaved with `model`
        (None: `model` is the baseline, whose rounds pair it with itself and so measure the noise floor).
    :param batch_dependent: the method declares that a sample's outputs depend on its batch; it is then also
        scored at batch 1 (so is a model whose outputs are found to depend on the batch).
    """
    to_device = _mover(backend)
    with busy():  # compiling and scoring: no timing phase runs beside them, except at batch boundaries
        scored = _prepare_and_score(task, model, backend, job, label, bar, to_device, batch_dependent)
    values = {**scored.values, COL.timed: job.options.timed, COL.yielded_to_timing_seconds: scored.stood_aside}
    if job.options.timed:
        values.update(_timed_and_checked(task, scored.fn, scored.model, (scored.sample, scored.before), backend,
                                         job, reference, values[COL.model_size_bytes]))
    return values


def retime(task: Task, model: Any, backend: Backend, job: CellJob, reference: Any = None) -> dict[str, Any]:
    """Another worker process's timing of a cell's model (`CellJob.timing_pass` > 0, execution/passes.py): the
    model prepared on `backend` afresh, timed interleaved with the baseline like `measure`, with the same
    integrity check (outputs on the evaluation sample before and after timing) and the artifact's sha256, which
    the runner compares with the scored model's. No score."""
    import torch

    to_device = _mover(backend)
    with busy():
        model = copy.deepcopy(model)
        weights = serialized_weights(model)
        fn = _prepared(backend, model, task, to_device)
        sample = to_device(_sample_inputs(task, job.options.eval_limit))
        with torch.inference_mode():
            before = fn(*sample)
    return {COL.artifact_sha256: hashlib.sha256(weights).hexdigest(), COL.model_size_bytes: len(weights),
            COL.threads: backend.settings().get("threads"),
            **_timed_and_checked(task, fn, model, (sample, before), backend, job, reference, len(weights))}


def _mover(backend: Backend) -> Callable[[tuple], tuple]:
    return lambda inputs: tuple(t.to(backend.device) for t in inputs)


def _timed_and_checked(task: Task, fn: Callable[..., Any], model: Any, checked: tuple[tuple, Any],
                       backend: Backend, job: CellJob, reference: Any, model_bytes: int) -> dict[str, Any]:
    """Time prepared `fn` (of `model`) interleaved with `reference` prepared on the same backend (None: `model`
    is the baseline, paired with itself), check its outputs on the sample of `checked` (sample, outputs before
    timing) after timing, and measure peak memory."""
    import torch

    to_device = _mover(backend)
    baseline_fn, baseline_model = fn, model
    if reference is not None:
        with busy():
            baseline_model = copy.deepcopy(reference).eval()
            baseline_fn = _prepared(backend, baseline_model, task, to_device)
    if task.generation is None:
        values = timed(task, fn, baseline_fn, backend, job, to_device)
    else:
        values = timed_generation(task, (fn, model), (baseline_fn, baseline_model), backend, job, to_device,
                                  model_bytes)
    sample, before = checked
    with torch.inference_mode():
        after = fn(*sample)  # the same sample once the model has been timed
    problem = _outputs_differ(before, after)
    if problem is not None:
        raise IntegrityError(f"outputs after timing differ from the accuracy phase on {len(sample[0])} "
                             f"evaluation inputs ({problem}); a model must compute the same function while timed")
    del after
    if task.generation is None:
        values[COL.peak_memory_bytes] = backend.peak_memory_bytes(
            model, fn, to_device(task.example_inputs(task.batch_size)))
    else:  # one whole generation at the task batch size: the KV cache is part of the peak
        generate = Generator(fn, model.new_cache, task.generation.new_tokens, backend.synchronize)
        values[COL.peak_memory_bytes] = backend.peak_memory_bytes(
            model, generate, to_device(task.prompts(task.batch_size)[0]))
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


def _prepared(backend: Backend, model: Any, task: Task, to_device: Callable[[tuple], tuple]) -> Callable[..., Any]:
    """`model` made runnable on `backend`, its first batch-1 call made (compilers compile on it); for a generative
    task also a short generation at batch 1 and at the task batch (a prefill and two cached decode steps, whose
    growing cache length makes a compiler generalise), so that compiling counts in `compile_seconds`, not in the
    timing's warm-up."""
    import torch

    fn = backend.prepare(model, to_device(task.example_inputs(task.batch_size)))
    with torch.inference_mode():
        fn(*to_device(task.example_inputs(1)))
        if task.generation is not None:
            for batch in (1, task.batch_size):
                Generator(fn, model.new_cache, 3, backend.synchronize)(to_device(task.prompts(batch)[0])[0])
    backend.synchronize()
    return fn


def _depends_on_batch(fn: Callable[..., Any], sample: tuple, outputs: Any, most: int = 8) -> bool:
    """Whether the outputs of the first `most` samples of `sample` (a batch) change when each runs alone."""
    import torch

    with torch.inference_mode():
        for i in range(min(most, len(sample[0]))):
            alone = fn(*(t[i:i + 1] for t in sample))
            if isinstance(outputs, torch.Tensor) and _outputs_differ(outputs[i:i + 1], alone) is not None:
                return True
    return False


def _prepare_and_score(task: Task, model: Any, backend: Backend, job: CellJob, label: str,
                       bar: Callable[[str, int], Any] | None, to_device: Callable[[tuple], tuple],
                       batch_dependent: bool = False) -> _Scored:
    """Size, count, prepare (compile) and score a copy of `model` on `backend`."""
    import torch

    model = copy.deepcopy(model)
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
    fn = _prepared(backend, model, task, to_device)  # compiling belongs here, not in latency
    compile_seconds = time.perf_counter() - start
    settings = backend.settings()

    eval_total = job.options.eval_limit or task.eval_size
    progress = bar(f"{label}: evaluating", eval_total) if bar is not None else _NoBar()
    if callable(report):
        report()  # reset the counters
    stood_aside = 0.0

    def batches(size: int) -> Any:
        nonlocal stood_aside
        for x, y in task.eval_batches(size, job.options.eval_limit):
            stood_aside += yield_to_timing()
            yield to_device(x), y

    scored = evaluate(fn, batches(task.batch_size), task.metric, on_batch=progress.update, extra=task.extra_metrics)
    model_metrics = {k: float(v) for k, v in report().items()} if callable(report) else {}
    sample = to_device(_sample_inputs(task, job.options.eval_limit))
    with torch.inference_mode():
        before = fn(*sample)  # the accuracy phase's outputs on the sample
    progress.close()
    batch_dependent = batch_dependent or _depends_on_batch(fn, sample, before)
    alone = None
    if batch_dependent:  # the score a deployment at batch 1 gets
        singles = bar(f"{label}: evaluating at batch 1", eval_total) if bar is not None else _NoBar()
        alone = evaluate(fn, batches(1), task.metric, on_batch=singles.update)
        singles.close()
    return _Scored({
        COL.threads: settings.get("threads"),
        COL.allocator: warm_heap(),
        COL.device: backend.device,
        COL.score: scored.score,
        COL.score_ci_low: scored.interval[0] if scored.interval else None,
        COL.score_ci_high: scored.interval[1] if scored.interval else None,
        COL.extra_scores: json.dumps(scored.extras, sort_keys=True) if scored.extras else "",
        COL.eval_samples: scored.samples,
        COL.eval_batch_size: task.batch_size,
        COL.batch_dependent: batch_dependent,
        COL.score_b1: alone.score if alone else None,
        COL.score_b1_ci_low: alone.interval[0] if alone and alone.interval else None,
        COL.score_b1_ci_high: alone.interval[1] if alone and alone.interval else None,
        COL.batch_size: task.batch_size,
        COL.model_size_bytes: len(weights),
        COL.artifact_sha256: hashlib.sha256(weights).hexdigest(),
        COL.params_total: total,
        COL.params_nonzero: nonzero,
        COL.sparsity: 1.0 - nonzero / total if total else None,
        COL.flops: flops,
        COL.compile_seconds: compile_seconds,
        COL.mean_exit_depth: model_metrics.get("mean_exit_depth"),
        COL.model_metrics: json.dumps(model_metrics, sort_keys=True) if model_metrics else "",
    }, fn, model, sample, before, stood_aside)


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

    folder = Path(job.options.artifact_dir) if job.options.artifact_dir else Path(tempfile.mkdtemp(prefix="benchsuite-artifact-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.pt"
    path.write_bytes(data)
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        return f"the saved artifact {path} does not hash to {digest[:12]}…"
    state = torch.load(path, weights_only=True)
    if not job.options.artifact_dir:
        path.unlink()
        folder.rmdir()
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        for tensor in fresh.state_dict().values():  # the score must come from the artifact, not from what remains
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not tensor.is_quantized:
                tensor.zero_()
    fresh.load_state_dict(state, strict=True)
    fresh.eval()
    to_device = _mover(backend)
    fn = backend.prepare(fresh, to_device(task.example_inputs(task.batch_size)))
    batches = ((to_device(x), y) for x, y in task.eval_batches(task.batch_size, job.options.eval_limit))
    rescored = evaluate(fn, batches, task.metric).score
    if not math.isclose(rescored, values["score"], rel_tol=0, abs_tol=1e-9):
        return (f"the score re-evaluated from the saved artifact is {rescored:.6g}, the run reported "
                f"{values['score']:.6g}")
    return None
