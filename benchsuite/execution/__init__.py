"""Running cells: the job and its outcome, the worker event protocol, the cell itself (compress, then measure
on each backend), the worker process and its isolation under limits, executors (local, Dask), the host's
timing lock, and the artifact cache.
"""
