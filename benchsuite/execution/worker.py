"""The worker process: ``python -m benchsuite.execution.worker JOB EVENTS`` runs one cell (cell.py) and writes its events.

JOB is a file holding a CellJob as JSON; EVENTS is a file the worker appends one JSON line to per event. Anything
the plugins print goes to the worker's own stdout/stderr, which the parent keeps as the crash log.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from pathlib import Path


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if `benchsuite run` dies (even by SIGKILL), so no orphan keeps going."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent was already gone before prctl
        os._exit(1)


def main(argv: list[str]) -> int:
    _die_with_parent()
    faulthandler.enable()  # a segfault or abort leaves a Python traceback in the crash log
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the parent asks for the stacks before a kill
    job_path, events_path = Path(argv[0]), Path(argv[1])
    from benchsuite.execution import (
        events as ev,  # no torch: the heavy imports below run inside busy()
    )
    from benchsuite.execution.hostlock import busy, set_wait_listener

    out = open(events_path, "a", encoding="utf-8")

    def events(event: ev.Event) -> None:
        out.write(ev.encode(event))
        out.flush()

    # the parent stops a phase's clock while this worker queues for the machine (isolation.py)
    set_wait_listener(lambda waiting: events(ev.waiting(waiting)))
    # importing torch, loading data and (once per machine) building the reference: never beside a timing phase
    with busy():
        from benchsuite.discovery.loader import load_plugins
        from benchsuite.errors import one_line
        from benchsuite.execution.cell import execute
        from benchsuite.execution.job import CellJob
        from benchsuite.sdk.paths import cache_dir

        job = CellJob.from_json(job_path.read_text())
        #: what loading the plugins said here (the parent already showed its own warnings to the user)
        said: list[str] = []
        try:
            plugins = load_plugins(job.plugins_dir, environ=dict(job.plugin_environ), warn=said.append)
            for name, _ in job.steps:  # a plugin that loads in the parent but not here: named, not a KeyError later
                plugins.methods.get(name)
            for name, _ in job.backends:
                plugins.backends.get(name)
            task = plugins.tasks.get(job.task)()
            reference = task.reference_model(cache_dir())
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            import traceback

            reason = f"task {job.task} could not be set up: {one_line(exc)}"
            if said:
                reason += f" (loading plugins in the worker: {' '.join(said)})"
            events(ev.setup_failed(reason, traceback.format_exc()))
            return 0
        for line in said:  # kept in the worker's log
            print(f"benchsuite: warning: {line}", file=sys.stderr)
    execute(job, plugins, task, reference, events)
    events(ev.done())
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
