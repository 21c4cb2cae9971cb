"""The executor options and the local executor (benchsuite/execution/executors.py). The local executor's cells
run in scripted workers (tests/fixtures/scripted_worker.py): these tests are about which worker runs what, and
in what order the cells come back; the Dask executor has its own tests (test_dask.py)."""

import pytest

from benchsuite.errors import UsageError
from benchsuite.execution.executors import (EXECUTORS, Finished, LocalExecutor, Work, check_options, make_executor,
                                            run_cell)
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.limits import Limits

LIMITS = Limits(60, 2**30)


@pytest.mark.parametrize("name, isolate, scheduler, workers, message", [
    ("ray", "cell", None, None, "unknown executor 'ray'; use one of local, dask"),
    ("local", "cell", "tcp://10.0.0.1:8786", None, "--scheduler and --workers need --executor dask"),
    ("local", "cell", None, 2, "--scheduler and --workers need --executor dask"),
    ("local", "cell", None, 0, "--scheduler and --workers need --executor dask"),
    ("dask", "cell", None, 0, "--workers got 0; give the number of Dask workers, e.g. --workers 2"),
    ("dask", "run", None, -1, "--workers got -1; give the number of Dask workers, e.g. --workers 2"),
    ("dask", "none", None, None, "--isolate none runs cells inside the Dask worker, where a crash kills the worker; "
                                 "with --executor dask use --isolate cell or run"),
])
def test_options_that_do_not_go_together_are_refused_in_one_line(name, isolate, scheduler, workers, message):
    with pytest.raises(UsageError) as info:
        check_options(name, isolate, scheduler, workers)
    assert str(info.value) == message
    with pytest.raises(UsageError):  # refused before any executor is made (or Dask imported)
        make_executor(name, LIMITS, isolate, scheduler, workers)


@pytest.mark.parametrize("name, isolate, scheduler, workers", [
    ("local", "cell", None, None), ("local", "run", None, None), ("local", "none", None, None),
    ("dask", "cell", None, None), ("dask", "run", None, 1), ("dask", "cell", "tcp://10.0.0.1:8786", None),
    ("dask", "cell", "tcp://10.0.0.1:8786", 3),
])
def test_options_that_go_together_pass(name, isolate, scheduler, workers):
    assert name in EXECUTORS
    assert check_options(name, isolate, scheduler, workers) is None


def test_make_executor_makes_the_local_executor_with_the_limits():
    executor = make_executor("local", LIMITS, "cell")
    assert isinstance(executor, LocalExecutor) and executor.name == "local"
    assert (executor.limits, executor.isolate) == (LIMITS, "cell")


def test_the_local_executors_machine_is_this_machine():
    from benchsuite.measure.hardware import machine_info

    machine = LocalExecutor(LIMITS, "cell").machine()
    assert {k: machine[k] for k in machine_info()} == machine_info()
    assert len(machine["hardware_fingerprint"]) == 12 and machine["torch_version"]


def job(task, *backends):
    return CellJob(task, (("toy-halve", ()),), 0, tuple((name, ()) for name in backends))


def script(index):
    """A worker that measures backend `index` of its job ok, scored `index`."""
    return [{"event": "measuring", "backend": index},
            {"event": "result", "backend": index, "status": "ok", "values": {"score": float(index)}}]


FINE = [{"event": "compressing"}, {"event": "compressed", "cost": {}}]


def test_the_local_executor_runs_the_cells_in_order_one_worker_each(scripted_worker):
    scripted_worker.play({"a": [*FINE, *script(0), *script(1), {"event": "done"}],
                          "c": [*FINE, *script(0), {"event": "done"}]})
    executor = LocalExecutor(LIMITS, "cell")
    finished = list(executor.run([Work(job("t1", "a", "b"), "t1 × toy-halve"), Work(job("t2", "c"), "t2 × toy-halve")]))
    assert finished == [Finished(0, [Outcome("ok", values={"score": 0.0}), Outcome("ok", values={"score": 1.0})]),
                        Finished(1, [Outcome("ok", values={"score": 0.0})])]
    assert finished[0].machine is None  # this machine
    assert scripted_worker.launches == [["a", "b"], ["c"]]
    executor.close()


def test_isolate_run_gives_every_backend_a_worker_of_its_own(scripted_worker):
    scripted_worker.play({name: [*FINE, *script(0), {"event": "done"}] for name in ("a", "b", "c")})
    (done,) = LocalExecutor(LIMITS, "run").run([Work(job("t", "a", "b", "c"), "t × toy-halve")])
    assert done.outcomes == [Outcome("ok", values={"score": 0.0})] * 3
    assert scripted_worker.launches == [["a"], ["b"], ["c"]]


def test_run_cell_passes_the_workers_environment(scripted_worker):
    import json
    import os

    scripted_worker.play({})  # this process's script names no backend: only the given environment's does
    env = {**os.environ, "BENCHSUITE_TEST_SCRIPT": json.dumps({"a": [*FINE, *script(0), {"event": "done"}]})}
    assert run_cell(job("t", "a"), LIMITS, "cell", env) == [Outcome("ok", values={"score": 0.0})]
