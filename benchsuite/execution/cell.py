"""One cell of a grid: compress a task's reference model with a method pipeline once, then measure it on each
of the job's backends, reporting every phase as an event (events.py). A job with a `timing_pass` > 0 only times
the cell's model again, in this process (execution/passes.py).

The same code runs in a worker subprocess (worker.py, the default) or in the calling process (isolation.py's
`InProcess`, ``--isolate none``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from benchsuite.errors import Unsupported, one_line
from benchsuite.execution import events as ev
from benchsuite.execution.compression import budget_problem, compress_or_load
from benchsuite.execution.hostlock import busy
from benchsuite.execution.job import CellJob
from benchsuite.execution.measuring import IntegrityError, artifact_problem, measure, retime
from benchsuite.measure.allocator import warm_heap
from benchsuite.results.schema import COL
from benchsuite.sdk.interfaces import Task


def execute(job: CellJob, plugins: Any, task: Task, reference: Any, events: ev.Events,
            bar: Callable[[str, int], Any] | None = None) -> None:
    """Compress once, then measure on each of the job's backends, reporting every phase through `events`."""
    import torch

    warm_heap()  # before anything is timed: see measure/allocator.py
    methods = [plugins.methods.get(name)(**dict(params)) for name, params in job.steps]
    backends = [plugins.backends.get(name)(**dict(params)) for name, params in job.backends]
    events(ev.compressing())
    try:
        with busy():  # no timing phase runs on this machine while compressing, except at batch boundaries
            model, cost = compress_or_load(task, reference, methods, job)
    except BaseException as exc:  # SystemExit from a plugin too: it is the plugin's failure, not the worker's
        if isinstance(exc, KeyboardInterrupt):
            raise
        skipped = isinstance(exc, Unsupported)
        status, reason = ("skipped", str(exc)) if skipped else ("failed", f"compression failed: {one_line(exc)}")
        for i in range(len(backends)):
            events(ev.result(i, status, reason, traceback="" if skipped else traceback.format_exc()))
        return
    events(ev.compressed(cost))
    over_budget = budget_problem(job, cost)
    baseline_cell = all(name == "baseline" for name, _ in job.steps)  # its rounds pair the model with itself
    declared = any(getattr(m, "batch_dependent", False) for m in methods)
    threads_before = torch.get_num_threads()
    for i, ((name, _), backend) in enumerate(zip(job.backends, backends)):
        events(ev.measuring(i))
        label = f"{task.name} × {' > '.join(n for n, _ in job.steps)} × {name}"
        try:
            if job.timing_pass > 0:  # another process's timing: the runner checks and pools it (passes.py)
                values = retime(task, model, backend, job, reference=None if baseline_cell else reference)
                events(ev.result(i, "ok", values=values, cost=cost))
                continue
            values = measure(task, model, backend, job, label, bar, reference=None if baseline_cell else reference,
                             batch_dependent=declared)
            values[COL.yielded_to_timing_seconds] += cost.get(COL.yielded_to_timing_seconds) or 0.0
            problem = over_budget
            if problem is None and job.options.verify_artifact:
                problem = artifact_problem(task, model, backend, job, values)
            if problem is not None:
                events(ev.result(i, "failed", f"integrity: {problem}", values, cost))
                continue
            checks = ["outputs", "budget"] + (["artifact"] if job.options.verify_artifact else [])
            values[COL.integrity] = "passed: " + ", ".join(checks)
            events(ev.result(i, "ok", values=values, cost=cost))
        except Unsupported as exc:
            events(ev.result(i, "skipped", f"backend {name}: {exc}", cost=cost))
        except IntegrityError as exc:
            events(ev.result(i, "failed", f"integrity: {exc}", cost=cost, traceback=traceback.format_exc()))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            events(ev.result(i, "failed", f"measurement failed: {one_line(exc)}", cost=cost,
                             traceback=traceback.format_exc()))
        finally:
            torch.set_num_threads(threads_before)
