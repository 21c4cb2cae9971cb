"""The parent's side of fault isolation (benchsuite/execution/isolation.py), against scripted workers
(tests/fixtures/scripted_worker.py): what each way a worker can end becomes, which backends a fresh worker
retries, and that a worker past a limit is killed with everything it started.

test_faults.py runs the real worker with the fault-injection plugins end to end (a plugin that raises, exits,
segfaults, hangs or hogs memory); these tests pin the parent's rules one by one, each in a second or two.
"""

import re
import time

import pytest

from benchsuite.execution.isolation import WAIT_LIMIT_FACTOR, _one_worker, run_isolated
from benchsuite.execution.job import CellJob, Outcome
from benchsuite.execution.limits import Limits

from conftest import alive

MiB = 2**20
LIMITS = Limits(60, 2**30)
COST = {"compress_seconds": 1.5, "finetune_steps": 0}
VALUES = {"score": 0.9, "latency_p50_ms": 1.25}


def job(*backends):
    return CellJob("toy-blobs", (("toy-halve", ()),), 0, tuple((name, ()) for name in backends))


def compressing():
    return [{"event": "compressing"}, {"event": "compressed", "cost": COST}]


def measured(index, status="ok", error=""):
    return [{"event": "measuring", "backend": index},
            {"event": "result", "backend": index, "status": status, "error": error, "values": VALUES, "cost": COST}]


DONE = {"event": "done"}


def ok(error=""):
    return Outcome("ok", error, VALUES, COST)


def test_a_worker_that_finishes_gives_each_backends_outcome_from_one_worker(scripted_worker):
    scripted_worker.play({"a": [*compressing(), *measured(0), *measured(1, "failed", "boom"), DONE]})
    assert run_isolated(job("a", "b"), LIMITS) == [ok(), Outcome("failed", "boom", VALUES, COST)]
    assert scripted_worker.launches == [["a", "b"]]


def test_a_worker_that_exits_while_compressing_crashes_every_backend_with_its_last_output(scripted_worker):
    scripted_worker.play({"a": [{"event": "compressing"}, ["print", "last words"], ["exit", 7]]})
    outcomes = run_isolated(job("a", "b"), LIMITS)
    assert [(o.status, o.error) for o in outcomes] == [("crashed", "worker exited with code 7 while compressing")] * 2
    assert outcomes[0].traceback.splitlines()[-1] == "last words" and outcomes[0].cost == {}
    assert scripted_worker.launches == [["a", "b"]]  # what failed compressing is not compressed again


def test_a_worker_that_dies_while_measuring_costs_that_backend_and_a_fresh_worker_runs_the_rest(scripted_worker):
    scripted_worker.play({"dies": [*compressing(), {"event": "measuring", "backend": 0}, ["signal", "SIGKILL"]],
                          "fine": [*compressing(), *measured(0), DONE]})
    died, fine = run_isolated(job("dies", "fine"), LIMITS)
    assert (died.status, died.error) == ("crashed", "worker died with SIGKILL while measuring on dies")
    assert died.cost == COST  # the compression it did is still its cost
    assert fine == ok()
    assert scripted_worker.launches == [["dies", "fine"], ["fine"]]


def test_a_worker_that_stops_between_measurements_leaves_the_unreached_backends_open(scripted_worker):
    scripted_worker.play({"a": [*compressing(), *measured(0), ["exit", 0]]})
    assert _one_worker(job("a", "b"), LIMITS) == [ok(), None]


def test_a_worker_that_ends_without_any_result_is_not_retried_forever(scripted_worker):
    scripted_worker.play({"a": [*compressing(), ["exit", 0]]})
    assert run_isolated(job("a"), LIMITS) == [Outcome("crashed", "worker ended without a result")]
    assert scripted_worker.launches == [["a"]]


def test_a_task_that_cannot_be_set_up_fails_every_backend_with_its_reason(scripted_worker):
    error = "task toy-blobs could not be set up: OSError: no data"
    scripted_worker.play({"a": [{"event": "setup_failed", "error": error, "traceback": "Traceback: here"}, ["exit", 0]]})
    assert run_isolated(job("a", "b"), LIMITS) == [Outcome("failed", error, traceback="Traceback: here")] * 2
    assert scripted_worker.launches == [["a", "b"]]


def test_a_phase_past_the_time_limit_is_killed_with_what_it_started_and_its_stacks_kept(scripted_worker, tmp_path):
    pid_file = tmp_path / "child.pid"
    scripted_worker.play({"a": [{"event": "compressing"}, ["spawn", str(pid_file)], ["sleep", 120]]})
    start = time.monotonic()
    outcomes = run_isolated(job("a", "b"), Limits(1, 2**30))
    assert time.monotonic() - start < 15
    assert [(o.status, o.error) for o in outcomes] == [
        ("timeout", "compression ran past the 1 s time limit; raise --time-limit if it needs longer")] * 2
    assert "scripted_worker.py" in outcomes[0].traceback  # the stacks it printed when asked, before the kill
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the worker's child outlived the kill"


@pytest.mark.parametrize("steps, words", [
    ([], "task setup"),  # no event at all: still setting up
    ([*compressing(), {"event": "measuring", "backend": 0}], "measurement on a"),
])
def test_the_timeout_names_the_phase_it_hung_in(scripted_worker, steps, words):
    scripted_worker.play({"a": [*steps, ["sleep", 120]]})
    (outcome,) = run_isolated(job("a"), Limits(1, 2**30))
    assert (outcome.status, outcome.error) == (
        "timeout", f"{words} ran past the 1 s time limit; raise --time-limit if it needs longer")


def test_time_queued_for_the_machine_is_left_out_of_the_phases_limit(scripted_worker):
    # compression queues 2.5 s for the machine under a 1 s limit (within WAIT_LIMIT_FACTOR limits): not a timeout
    assert 2.5 < WAIT_LIMIT_FACTOR * 1
    scripted_worker.play({"a": [{"event": "compressing"}, {"event": "waiting"}, ["sleep", 2.5], {"event": "resumed"},
                                {"event": "compressed", "cost": COST}, *measured(0), DONE]})
    assert run_isolated(job("a"), Limits(1, 2**30)) == [ok()]


def test_a_wait_for_the_machine_past_its_own_limit_is_a_timeout(scripted_worker):
    scripted_worker.play({"a": [{"event": "compressing"}, {"event": "waiting"}, ["sleep", 120]]})
    (outcome,) = run_isolated(job("a"), Limits(0.5, 2**30))
    assert outcome.status == "timeout"
    assert re.fullmatch(r"compression waited \d+ s for the machine, held by another benchsuite run's phase; "
                        r"raise --time-limit, or find the run that holds it", outcome.error), outcome.error
    assert float(outcome.error.split()[2]) >= WAIT_LIMIT_FACTOR * 0.5 - 0.5  # "\d+" is rounded


def test_a_worker_over_the_memory_limit_is_killed_and_crashed(scripted_worker):
    scripted_worker.play({"a": [{"event": "compressing"}, ["hold_memory", 384], ["sleep", 120]]})
    (outcome,) = run_isolated(job("a"), Limits(60, 128 * MiB))
    assert outcome.status == "crashed"
    assert re.fullmatch(r"compression exceeded the memory limit: resident memory 0\.\d\d GiB > 0\.12 GiB; "
                        r"raise --memory-limit if it needs more", outcome.error), outcome.error
