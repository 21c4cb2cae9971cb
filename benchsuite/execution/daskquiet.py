"""Dask's own monitors, turned down on the machines where benchsuite times models.

An idle Dask process is not idle: by default every worker samples its threads' stacks every 10 ms (the
statistical profiler behind the dashboard's profile page), and every server wakes every 20 ms to check that its
event loop is not blocked. Measured on a 2-core machine here, an idle 2-worker LocalCluster used 4.1-9.1% of the
machine's CPU (no cluster: 0.3%), and latency timed beside it came out a median 1.21x slower than the same
configurations timed with no cluster. With the settings below the idle cluster used 0.7-1.1%.

benchsuite starts its LocalCluster with these settings (the nanny hands its configuration to the worker
processes). Workers of an existing cluster are started by their owner: the Dask executor warns about workers
that run louder than these, and names the YAML file (`YAML`) to start them with.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the same settings as a Dask YAML file, for ``DASK_CONFIG=... dask worker ...`` (installed with benchsuite)
YAML = Path(__file__).with_name("dask-timing.yaml")

#: the settings, as ``dask.config.set`` keys
QUIET: Mapping[str, Any] = {
    "distributed.worker.profile.enabled": False,  # the stack sampler: by far the largest share
    "distributed.admin.tick.interval": "1s",  # the event loop's blocked-loop check (default 20ms)
    "distributed.admin.system-monitor.interval": "5s",  # the dashboard's CPU/memory sampler (default 500ms)
}


def worker_settings() -> dict[str, Any]:
    """This process's values of the QUIET settings (run on each Dask worker through ``client.run``)."""
    import dask

    return {key: dask.config.get(key, default=None) for key in QUIET}


def louder(settings: Mapping[str, Any]) -> list[str]:
    """The QUIET keys whose value in `settings` (one worker's) makes Dask busier while a model is timed."""
    from dask.utils import parse_timedelta

    found = []
    for key, quiet in QUIET.items():
        value = settings.get(key)
        if isinstance(quiet, bool):
            if value is not quiet:
                found.append(f"{key}={value}")
            continue
        try:
            if value is None or parse_timedelta(value) < parse_timedelta(quiet):
                found.append(f"{key}={value}")
        except (TypeError, ValueError):
            found.append(f"{key}={value}")
    return found
