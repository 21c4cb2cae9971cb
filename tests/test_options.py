"""grid/options.py: one options object for the command line, `benchsuite.run()` and --config files."""

import pytest

from benchsuite.errors import UsageError
from benchsuite.execution.job import CellOptions
from benchsuite.grid.options import RunOptions


def test_run_options_are_cell_options_plus_what_only_the_parent_uses():
    options = RunOptions.of(quick=True, seeds=(0, 1), track="open", finetune_budget_steps=7, isolate="run",
                            time_limit_seconds=60, memory_limit="1GiB", accuracy_only=True, cache=False)
    cell = options.cell_options()
    assert type(cell) is CellOptions
    assert (cell.quick, cell.track, cell.finetune_budget_steps, cell.finetune_budget_seconds) == (True, "open", 7, 900.0)
    assert (cell.timed, cell.cache) == (False, False)
    assert (options.limits.time_limit_seconds, options.limits.memory_limit_bytes) == (60, 2**30)


@pytest.mark.parametrize("spelling, message", [
    (dict(finetune_budget_steps=10), "--finetune-budget and --finetune-budget-seconds need --track open"),
    (dict(track="open", finetune_budget_steps=-1), "--finetune-budget got -1; it accepts an integer >= 0"),
    (dict(track="open", finetune_budget_seconds=0.0), "--finetune-budget-seconds got 0; it accepts a number > 0"),
    (dict(seeds=(1, 1)), "seeds must be distinct integers >= 0"),
    (dict(isolate="thread"), "unknown isolation 'thread'"),
    (dict(track="sideways"), "unknown track 'sideways'"),
    (dict(time_limit_seconds=-5), "--time-limit got -5"),
    (dict(memory_limit="lots"), "--memory-limit got 'lots'"),
])
def test_each_bad_option_is_one_usage_error_naming_it(spelling, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        RunOptions.of(**spelling)


def test_the_closed_track_keeps_the_shared_budget_whatever_the_constructor():
    with pytest.raises(UsageError, match="the closed track uses the shared budget of 500 steps and 900 s"):
        CellOptions(finetune_budget_steps=10)
    assert RunOptions.of().finetune_budget_steps == 500
