import pytest
import torch
from torch import nn

from benchsuite.interfaces import MethodContext, TaskInfo
from benchsuite_plugins.methods.dynamic_int8 import DynamicInt8
from benchsuite_plugins.methods.magnitude_pruning import MagnitudePruning, prunable_weights

INFO = TaskInfo("t", "vision", "1", "accuracy", True, 3, 8, finetune_lr=1e-2)


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


def stream(batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield (torch.randn(batch_size, 1, 8, 8, generator=g),), torch.randint(0, 3, (batch_size,), generator=g)


def context(budget=100):
    return MethodContext(task=INFO, teacher=tiny(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=budget, train_stream=stream)


def test_dynamic_int8_quantizes_linear_layers_and_stays_close():
    x = torch.randn(16, 1, 8, 8)
    ref = tiny()
    q = DynamicInt8().apply(tiny(), context())
    assert isinstance(q[4], torch.ao.nn.quantized.dynamic.Linear) and isinstance(q[0], nn.Conv2d)
    with torch.no_grad():
        assert torch.allclose(q(x), ref(x), atol=0.05)  # int8 weights: within 0.05 of fp32 logits here


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_magnitude_pruning_reaches_global_sparsity_and_is_permanent(sparsity):
    model = MagnitudePruning(sparsity=sparsity).apply(tiny(), context())
    weights = [m.weight for m, _ in prunable_weights(model)]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros / total == pytest.approx(sparsity, abs=1e-3)
    assert not any(hasattr(m, "weight_orig") for m in model.modules())  # no masks or hooks left behind


def test_magnitude_pruning_finetune_keeps_zeros_and_uses_the_budget():
    ctx = context()
    before = tiny()
    model = MagnitudePruning(sparsity=0.5, finetune_steps=5).apply(tiny(), ctx)
    assert ctx.cost.finetune_steps == 5
    pruned = model[4].weight
    assert float((pruned == 0).float().mean()) > 0.3
    assert not torch.equal(pruned[pruned != 0], before[4].weight[pruned != 0])  # kept weights were trained


def test_magnitude_pruning_over_budget_fails():
    with pytest.raises(Exception, match="budget of 3"):
        MagnitudePruning(sparsity=0.5, finetune_steps=5).apply(tiny(), context(budget=3))


def test_method_params_are_validated_on_construction():
    with pytest.raises(Exception, match="'magnitude-pruning': parameter 'sparsity' got 1.2"):
        MagnitudePruning(sparsity=1.2)
