"""TODO docstring (cell.py)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from benchsuite.errors import Unsupported
from benchsuite.execution.compression import budget_problem, compress_or_load
from benchsuite.execution.hostlock import busy
from benchsuite.execution.job import CellJob, Events, one_line
from benchsuite.execution.measuring import IntegrityError, artifact_problem, measure
from benchsuite.measure.allocator import warm_heap
from benchsuite.sdk.interfaces import Task


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
