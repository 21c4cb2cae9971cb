"""The closed track's calibration budget: calibration data comes without labels, at most
CLOSED_BUDGET_CALIBRATION_SAMPLES of it; a request past the budget is refused, and counts that end above it
anyway are an over-budget row. Real toy models through the real MethodContext and cell (no mocks); the methods
that try it are in tests/plugins/calibration/."""

import pytest
import torch

from benchsuite.execution.compression import budget_problem
from benchsuite.execution.isolation import InProcess
from benchsuite.execution.job import CellJob, CellOptions
from benchsuite.sdk.interfaces import BudgetExceeded, MethodContext
from benchsuite.sdk.tracks import CLOSED_BUDGET_CALIBRATION_SAMPLES

from conftest import GOOD, HERE, SLOW_BACKENDS, plugins_folder

CALIBRATION = HERE / "plugins" / "calibration" / "calibration_methods.py"
BUDGET = CLOSED_BUDGET_CALIBRATION_SAMPLES


@pytest.fixture
def plugins(tmp_path, toy_cache):
    from benchsuite.discovery.loader import load_plugins

    folder = plugins_folder(tmp_path / "plugins", GOOD / "toy_task.py", CALIBRATION)
    return load_plugins(folder, warn=lambda m: None, environ={"BENCHSUITE_PLUGINS_BLOCK": SLOW_BACKENDS})


@pytest.fixture
def run_cell(plugins, one_thread):
    here = InProcess(plugins)

    def run(spec, track="closed"):
        """The one outcome of `spec` (``name`` or ``name:param=value``) on toy-blobs, torch-cpu, quick."""
        name, _, param = spec.partition(":")
        params = (tuple((k, int(v)) for k, v in [param.split("=")]) if param else ())
        job = CellJob(task="toy-blobs", steps=((name, params),), seed=0, backends=(("torch-cpu", ()),),
                      options=CellOptions(quick=True, cache=False, track=track))
        [outcome] = here.run(job)
        return outcome
    return run


@pytest.fixture
def context(plugins, toy_cache):
    from benchsuite.sdk.paths import cache_dir

    task = plugins.tasks.get("toy-blobs")()
    return MethodContext(task=task.info, teacher=task.reference_model(cache_dir()), seed=0,
                         device=torch.device("cpu"), finetune_budget_steps=0, train_stream=task.train_batches,
                         batch_size=32, calibration_budget_samples=BUDGET)


def test_the_closed_track_calibration_budget_is_1024_samples_and_the_open_track_has_none():
    assert BUDGET == 1024
    assert CellOptions(track="closed").calibration_budget_samples == 1024
    assert CellOptions(track="open", finetune_budget_steps=10).calibration_budget_samples is None


def test_calibration_inputs_are_the_model_inputs_alone_and_every_sample_is_counted(context):
    batches = list(context.calibration_inputs(70))
    assert [len(b) for b in batches] == [1, 1, 1]  # toy-blobs has one input tensor and no labels come with it
    assert [len(inputs[0]) for inputs in batches] == [32, 32, 6]
    assert all(inputs[0].shape[1:] == (8,) and inputs[0].dtype == torch.float32 for inputs in batches)
    context.teacher(*batches[0])  # called as model(*inputs)
    assert context.cost.calibration_samples == 70
    list(context.calibration_inputs(30))  # the same seeded stream over again: counted again
    assert context.cost.calibration_samples == 100


def test_a_request_past_what_is_left_of_the_budget_is_refused_before_any_sample_is_given(context):
    list(context.calibration_inputs(BUDGET - 24))
    with pytest.raises(BudgetExceeded, match="^25 calibration samples asked, 24 left of the closed track's budget "
                                             "of 1024; lower calibration_samples or run on --track open$"):
        next(context.calibration_inputs(25))
    assert context.cost.calibration_samples == BUDGET - 24
    list(context.calibration_inputs(24))
    assert context.cost.calibration_samples == BUDGET


def test_the_deprecated_calibration_batches_still_calibrate_but_their_labels_refuse_every_use(context):
    with pytest.warns(DeprecationWarning, match="use calibration_inputs"):
        batches = list(context.calibration_batches(40))
    inputs, labels = batches[0]
    logits = context.teacher(*inputs)  # a method that only calibrates keeps working
    assert context.cost.calibration_samples == 40
    uses = [lambda: len(labels), lambda: labels[:4], lambda: labels.to("cpu"), lambda: list(labels),
            lambda: torch.nn.functional.cross_entropy(logits, labels), lambda: torch.as_tensor(labels)]
    for use in uses:
        with pytest.raises(TypeError, match="^calibration data carries no labels: train on labelled data through "
                                            "context.training_batches"):
            use()


def test_a_method_that_trains_on_calibration_labels_fails_in_one_line_naming_the_fix(run_cell):
    with pytest.warns(DeprecationWarning, match="calibration_batches is deprecated"):
        outcome = run_cell("toy-trains-on-calibration-labels")
    assert outcome.status == "failed"
    assert outcome.error == ("compression failed: TypeError: calibration data carries no labels: train on "
                             "labelled data through context.training_batches (within the fine-tuning budget) and "
                             "calibrate with context.calibration_inputs")


def test_asking_for_more_calibration_than_the_closed_track_allows_fails_and_the_open_track_takes_it(run_cell):
    closed = run_cell("toy-calibrates:samples=2000")
    assert closed.status == "failed"
    assert closed.error == ("compression failed: 2000 calibration samples asked, 1024 left of the closed track's "
                            "budget of 1024; lower calibration_samples or run on --track open")
    within = run_cell(f"toy-calibrates:samples={BUDGET}")
    assert within.status == "ok" and within.cost["calibration_samples"] == BUDGET
    assert within.values["integrity"] == "passed: outputs, budget"
    open_track = run_cell("toy-calibrates:samples=2000", track="open")
    assert open_track.status == "ok" and open_track.cost["calibration_samples"] == 2000


def test_self_training_on_calibration_gathered_in_small_pieces_stops_when_the_budget_is_spent(run_cell):
    outcome = run_cell("toy-self-trains-on-calibration:pieces=8")
    assert outcome.status == "failed"
    assert outcome.error == ("compression failed: 256 calibration samples asked, 0 left of the closed track's "
                             "budget of 1024; lower calibration_samples or run on --track open")
    assert run_cell("toy-self-trains-on-calibration:pieces=4").status == "ok"  # 1,024 unlabelled samples: allowed


def test_calibration_drawn_round_the_budget_is_recorded_as_an_over_budget_row(run_cell):
    outcome = run_cell("toy-calibrates-through-a-copy:samples=2000")
    assert outcome.status == "failed" and outcome.cost["calibration_samples"] == 2000
    assert outcome.error == ("integrity: closed track allows 1024 calibration samples, the method took 2000; "
                             "run it on --track open")
    assert run_cell("toy-calibrates-through-a-copy:samples=2000", track="open").status == "ok"


def test_budget_problem_names_calibration_past_the_closed_track_budget_and_nothing_else():
    closed = CellJob(task="toy-blobs", steps=(("toy-calibrates", ()),), seed=0, backends=(("torch-cpu", ()),))
    opened = CellJob(task="toy-blobs", steps=(("toy-calibrates", ()),), seed=0, backends=(("torch-cpu", ()),),
                     options=CellOptions(track="open"))
    cost = {"finetune_steps": 0, "compress_seconds": 1.0}
    assert budget_problem(closed, {**cost, "calibration_samples": BUDGET}) is None
    assert budget_problem(closed, cost) is None  # a cost from before calibration was counted
    assert budget_problem(closed, {**cost, "calibration_samples": BUDGET + 1}) == (
        "closed track allows 1024 calibration samples, the method took 1025; run it on --track open")
    assert budget_problem(opened, {**cost, "calibration_samples": 10 * BUDGET}) is None


def test_every_built_in_method_calibrates_within_the_closed_track_budget(all_plugins):
    """static-int8 is the only built-in method with a calibration size (structured-pruning traces its CNN on one
    sample): its default, headline and sweep sizes, even after structured-pruning in a pipeline, fit the budget."""
    sizes = {}
    for name in all_plugins.methods.names():
        method = all_plugins.methods.get(name)
        for param in method.parameters:
            if param.name == "calibration_samples":
                configs = ({}, *method.standard_configs, *method.sweep_configs)
                sizes[name] = [c.get(param.name, param.default) for c in configs]
    assert sizes == {"static-int8": [512, 512, 64]}
    assert 1 + max(sizes["static-int8"]) <= BUDGET


def test_example_inputs_serve_shapes_not_data(toy_plugins, toy_cache):
    from benchsuite.execution.compression import _shapes_only
    from benchsuite.sdk.interfaces import BudgetExceeded

    task = toy_plugins.tasks.get("toy-blobs")()
    example_inputs = _shapes_only(task)
    assert example_inputs(task.batch_size)[0].shape[0] == task.batch_size
    with pytest.raises(BudgetExceeded, match="at most the task batch size"):
        example_inputs(task.batch_size + 1)
