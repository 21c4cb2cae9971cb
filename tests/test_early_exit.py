import math

import pytest
import torch
from torch import nn

from benchsuite import Unsupported
from benchsuite.errors import ParamError
from benchsuite.sdk.interfaces import MethodContext, TaskInfo
from benchsuite_plugins.methods.early_exit import EarlyExit, benchsuite_register_methods
from benchsuite_plugins.tasks.mnist_cnn import SmallCNN

from conftest import random_images, tiny_bert as make_tiny_bert

STEPS = 10
SEQ = 12


def tiny_cnn():
    torch.manual_seed(0)
    return SmallCNN(width=4, hidden=8).eval()


def tiny_bert():
    return make_tiny_bert(layers=3, max_positions=32)


images = random_images


def reviews(batch_size, seed):
    """Right-padded token ids of random lengths, as the sentiment task makes them."""
    g = torch.Generator().manual_seed(seed)
    while True:
        lengths = torch.randint(3, SEQ + 1, (batch_size,), generator=g)
        mask = (torch.arange(SEQ) < lengths[:, None]).long()
        yield (torch.randint(1, 50, (batch_size, SEQ), generator=g) * mask, mask), torch.randint(0, 2, (batch_size,),
                                                                                                 generator=g)


KINDS = {  # make, data stream, task info, number of stages (conv blocks / transformer layers)
    "cnn": (tiny_cnn, images, TaskInfo("t", "vision", "1", "accuracy", True, 10, 8), 4),
    "bert": (tiny_bert, reviews, TaskInfo("t", "nlp", "1", "accuracy", True, 2, 8), 3),
}


def context(kind, budget=100, **kwargs):
    make, stream, info, _ = KINDS[kind]
    return MethodContext(task=info, teacher=make(), seed=0, device=torch.device("cpu"), finetune_budget_steps=budget,
                         train_stream=stream, batch_size=8, **kwargs)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=list(KINDS))
def trained_once(request):
    kind = request.param
    ctx = context(kind)
    original = KINDS[kind][0]()
    model = EarlyExit(finetune_steps=STEPS).apply(original, ctx)
    return kind, model, ctx, original


@pytest.fixture
def trained(trained_once):
    trained_once[1].benchsuite_metrics()  # each test counts from zero
    return trained_once


def batch(kind, size=16, seed=5):
    return next(KINDS[kind][1](size, seed))[0]


def run(model, inputs, threshold):
    model.threshold = threshold
    with torch.no_grad():
        return model(*inputs)


def test_threshold_zero_exits_every_sample_at_the_first_exit(trained):
    kind, model, *_ = trained
    out = run(model, batch(kind), 0.0)
    assert out.shape == (16, KINDS[kind][2].num_classes)
    assert model.benchsuite_metrics() == {"mean_exit_depth": 1.0, "exit_fraction_early": 1.0}


def test_threshold_one_runs_the_full_model_and_gives_its_logits(trained):
    kind, model, *_ = trained
    inputs = batch(kind)
    with torch.no_grad():
        expected = KINDS[kind][0]()(*inputs)
    assert torch.allclose(run(model, inputs, 1.0), expected, rtol=1e-5, atol=1e-6)
    assert model.benchsuite_metrics() == {"mean_exit_depth": KINDS[kind][3], "exit_fraction_early": 0.0}


def test_mixed_batch_gives_each_sample_its_own_exit_in_the_original_order(trained):
    kind, model, *_ = trained
    inputs = batch(kind, size=24)
    model.train()
    with torch.no_grad():
        stacked = model(*inputs)  # every exit's logits, the model's own classifier last
    model.eval()
    confidence = stacked.softmax(-1).amax(-1)
    threshold = float(confidence[:-1].amax(0).median())  # about half leave early, the rest reach the last exit
    leaves = confidence > threshold
    leaves[-1] = True
    exit_index = leaves.float().argmax(0)  # the first exit confident enough
    expected = stacked[exit_index, torch.arange(24)]

    out = run(model, inputs, threshold)
    metrics = model.benchsuite_metrics()
    assert torch.allclose(out, expected, atol=1e-5)
    assert metrics["mean_exit_depth"] == pytest.approx(float(exit_index.float().mean()) + 1)
    assert 0 < metrics["exit_fraction_early"] < 1

    singles = []
    for i in range(24):
        one = tuple(t[i:i + 1] for t in inputs)
        if kind == "bert":  # unpadded, as a batch of one would come
            length = int(inputs[1][i].sum())
            one = tuple(t[:, :length] for t in one)
        singles.append(run(model, one, threshold))
    assert torch.allclose(torch.cat(singles), out, atol=1e-5)
    assert model.benchsuite_metrics()["mean_exit_depth"] == pytest.approx(metrics["mean_exit_depth"])


def test_only_the_exit_heads_train_and_the_steps_are_counted(trained):
    kind, model, ctx, original = trained
    untouched = KINDS[kind][0]().state_dict()
    for key, value in original.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value, untouched[key]), key
    backbone = {id(p) for p in original.parameters()}
    heads = [p for p in model.parameters() if id(p) not in backbone]
    assert heads and all(p.requires_grad for p in heads)
    assert not any(p.requires_grad for p in original.parameters())
    assert ctx.cost.finetune_steps == STEPS
    assert not model.training


def test_metrics_reset_after_each_call(trained):
    kind, model, *_ = trained
    run(model, batch(kind, size=4), 0.0)
    run(model, batch(kind, size=6), 1.0)
    assert model.benchsuite_metrics()["exit_fraction_early"] == pytest.approx(0.4)
    assert all(math.isnan(v) for v in model.benchsuite_metrics().values())


def test_quick_mode_trains_on_what_is_given():
    ctx = context("cnn", max_steps_per_request=3)
    EarlyExit(finetune_steps=50).apply(tiny_cnn(), ctx)
    assert ctx.cost.finetune_steps == 3


@pytest.mark.parametrize("params, message", [
    ({"threshold": 1.5}, "'threshold' got 1.5"),
    ({"finetune_steps": 0}, "'finetune_steps' got 0"),
    ({"temperature": 0.0}, "'temperature' got 0.0"),
])
def test_bad_params_fail_at_construction(params, message):
    with pytest.raises(ParamError, match=message):
        EarlyExit(**params)


class Doubled(SmallCNN):
    def forward(self, images):
        return 2 * super().forward(images)


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
    Doubled(width=4, hidden=8).eval(),  # the right parts, but a forward that does more than chain them
], ids=["no-stages", "other-forward"])
def test_unsupported_models_are_refused(model):
    with pytest.raises(Unsupported, match="early-exit"):
        EarlyExit(finetune_steps=2).apply(model, context("cnn"))


def test_registers_the_method():
    registered = []
    benchsuite_register_methods(registered.append)
    assert registered == [EarlyExit] and EarlyExit.family == "dynamic"
