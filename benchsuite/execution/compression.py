"""Compressing: a method pipeline applied to a copy of the reference under one shared budget, through the
artifact cache when allowed, and the closed track's budget check.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from benchsuite.execution.hostlock import yield_to_timing
from benchsuite.execution.job import QUICK_FINETUNE_STEPS, CellJob
from benchsuite.results.schema import COL
from benchsuite.sdk.interfaces import CompressionMethod, MethodContext, Task

#: closed track: compression may take at most this multiple of the fine-tuning seconds, plus GRACE_SECONDS
BUDGET_WALL_FACTOR = 2.0


BUDGET_GRACE_SECONDS = 300.0


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _shapes_only(task: Task) -> Any:
    """The task's example inputs, for export and shape tracing only: at most one task batch, so that they are no
    unbudgeted source of (evaluation) data to calibrate on."""
    from benchsuite.sdk.interfaces import BudgetExceeded

    def example_inputs(batch_size: int) -> Any:
        if batch_size > task.batch_size:
            raise BudgetExceeded(f"example_inputs({batch_size}) asked; it serves at most the task batch size "
                                 f"({task.batch_size}) for export and tracing; calibrate with calibration_inputs")
        return task.example_inputs(batch_size)
    return example_inputs


def compress(task: Task, reference: Any, methods: Sequence[CompressionMethod],
             job: CellJob) -> tuple[Any, dict[str, Any]]:
    """Apply the pipeline's methods in order to a copy of the reference, under one shared budget."""
    import torch

    model = copy.deepcopy(reference)
    context = MethodContext(task=task.info, teacher=reference, seed=job.seed, device=torch.device("cpu"),
                            finetune_budget_steps=job.options.finetune_budget_steps, train_stream=task.train_batches,
                            batch_size=task.finetune_batch_size,
                            max_steps_per_request=QUICK_FINETUNE_STEPS if job.options.quick else None,
                            finetune_budget_seconds=job.options.finetune_budget_seconds,
                            calibration_budget_samples=job.options.calibration_budget_samples,
                            example_inputs=_shapes_only(task), yield_to_timing=yield_to_timing)
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
    return model, {COL.compress_seconds: seconds, COL.finetune_steps: context.cost.finetune_steps,
                   COL.yielded_to_timing_seconds: context.cost.paused_seconds,
                   COL.calibration_samples: context.cost.calibration_samples,
                   COL.finetune_budget_steps: job.options.finetune_budget_steps,
                   COL.finetune_budget_seconds: job.options.finetune_budget_seconds,
                   COL.finetune_stopped_by_time: context.cost.stopped_by_time}


def compress_or_load(task: Task, reference: Any, methods: Sequence[CompressionMethod],
                     job: CellJob) -> tuple[Any, dict[str, Any]]:
    """`compress`, through the artifact cache when the job allows it: a model the cache holds for the same content
    key is loaded instead (its cost is the cost of the compression that made it, `compression_cached` true)."""
    if not job.options.cache or all(m.name == "baseline" for m in methods):
        model, cost = compress(task, reference, methods, job)
        return model, {**cost, COL.compression_cached: False}
    import sys

    import torch

    from benchsuite.execution.artifacts import ArtifactCache, content_key, source_digest
    from benchsuite.measure.hardware import benchsuite_version
    from benchsuite.sdk.paths import cache_dir

    fields = {"task": task.name, "task_version": task.version, "seed": job.seed, "quick": job.options.quick,
              "track": job.options.track, "finetune_budget_steps": job.options.finetune_budget_steps,
              "finetune_budget_seconds": job.options.finetune_budget_seconds,
              "steps": [[m.name, m.version, dict(params), source_digest(m)] for m, (_, params) in zip(methods, job.steps)],
              "benchsuite_version": benchsuite_version(), "torch_version": torch.__version__}
    key = content_key(fields)
    cache = ArtifactCache(cache_dir())
    with cache.lock(key):  # a second worker compressing the same thing waits, then loads it
        hit = cache.get(key)
        if hit is not None:
            model, info = hit
            model.eval()
            return model, {**info, COL.compression_cached: True}
        model, cost = compress(task, reference, methods, job)
        if job.timing_pass > 0:  # a model that cannot be cached, made again for another process's timing
            return model, {**cost, COL.compression_cached: False}
        description = f"{task.name} × {' > '.join(n for n, _ in job.steps)} seed {job.seed}" + (
            " (quick)" if job.options.quick else "")
        problem = cache.put(key, model, cost, fields, description)
        if problem is not None:
            print(f"benchsuite: {description}: {problem}", file=sys.stderr)
    return model, {**cost, COL.compression_cached: False}


def budget_problem(job: CellJob, cost: Mapping[str, Any]) -> str | None:
    """Why a closed-track run broke the shared budget, or None.

    `MethodContext` already refuses a request past the budget; this catches what got round it (a method that
    drew through a copy of its context, say) and turns it into a failed row.
    """
    if job.options.track != "closed":
        return None
    if cost[COL.finetune_steps] > job.options.finetune_budget_steps:
        return (f"closed track allows {job.options.finetune_budget_steps} fine-tuning steps, the method took "
                f"{cost['finetune_steps']}; run it on --track open")
    allowed, took = job.options.calibration_budget_samples, cost.get(COL.calibration_samples) or 0
    if allowed is not None and took > allowed:
        return f"closed track allows {allowed} calibration samples, the method took {took}; run it on --track open"
    wall = BUDGET_WALL_FACTOR * job.options.finetune_budget_seconds + BUDGET_GRACE_SECONDS
    if cost[COL.compress_seconds] > wall:
        return (f"closed track allows {wall:.0f} s of compression (twice the {job.options.finetune_budget_seconds:.0f} s "
                f"fine-tuning budget plus {BUDGET_GRACE_SECONDS:.0f} s), the method took "
                f"{cost['compress_seconds']:.0f} s; run it on --track open")
    return None
