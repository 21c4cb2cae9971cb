"""execution/events.py: the worker event protocol, written and read in one place."""

from benchsuite.execution import events as ev
from benchsuite.execution.job import Outcome


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_events_survive_the_json_lines_between_worker_and_parent():
    import numpy as np

    sent = [ev.compressing(), ev.compressed({"compress_seconds": np.float64(1.5)}), ev.measuring(0),
            ev.result(0, "ok", values={"score": np.float32(0.5)}, cost={}), ev.done()]
    text = "".join(ev.encode(e) for e in sent).encode()
    received = ev.decode(text)
    assert [e["event"] for e in received] == ["compressing", "compressed", "measuring", "result", "done"]
    assert received[1]["cost"]["compress_seconds"] == 1.5 and received[3]["values"]["score"] == 0.5


def test_phases_follow_the_cell_and_collect_each_backends_outcome():
    clock = Clock()
    phases = ev.Phases(2, clock)
    assert phases.phase == "setup" and phases.describe(["a", "b"], gerund=True) == "setting up the task"
    phases.take([ev.compressing()])
    assert phases.describe(["a", "b"]) == "compression"
    phases.take([ev.compressed({"compress_seconds": 2.0}), ev.measuring(1)])
    assert phases.phase == 1 and phases.cost == {"compress_seconds": 2.0}
    assert phases.describe(["a", "b"], gerund=True) == "measuring on b"
    phases.take([ev.result(1, "failed", "boom", traceback="tb")])
    assert phases.results == [None, Outcome("failed", "boom", traceback="tb")]
    assert phases.phase == "between" and not phases.done
    phases.take([ev.done()])
    assert phases.done


def test_time_queued_for_the_machine_is_not_the_phases_own():
    clock = Clock()
    phases = ev.Phases(1, clock)
    phases.take([ev.compressing()])
    clock.now += 10
    phases.take([ev.waiting(True)])
    clock.now += 50
    assert phases.phase_seconds() == 10 and phases.wait_seconds() == 50
    phases.take([ev.waiting(False)])
    clock.now += 5
    assert phases.phase_seconds() == 15 and phases.wait_seconds() == 0


def test_a_setup_failure_is_kept_with_its_traceback():
    phases = ev.Phases(1)
    phases.take([ev.setup_failed("task t could not be set up: DataError: gone", "Traceback ...")])
    assert phases.setup_error == ("task t could not be set up: DataError: gone", "Traceback ...")


def test_an_unknown_event_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown worker event 'bogus'"):
        ev.Phases(1)({"event": "bogus"})
