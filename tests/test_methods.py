import pytest
import torch
from torch import nn

from benchsuite.errors import ParamError
from benchsuite.sdk.interfaces import BudgetExceeded, MethodContext, TaskInfo
from benchsuite_plugins.methods.dynamic_int8 import DynamicInt8
from benchsuite_plugins.methods.magnitude_pruning import MagnitudePruning, prunable_weights

from conftest import small_images as stream

INFO = TaskInfo("t", "vision", "1", "accuracy", True, 3, 8, finetune_lr=1e-2)


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


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
    weights = [m.weight for m, _ in prunable_weights(model, INFO.num_classes)]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros / total == pytest.approx(sparsity, abs=1e-3)
    assert not any(hasattr(m, "weight_orig") for m in model.modules())  # no masks or hooks left behind


@pytest.mark.parametrize("prune_output", [False, True])
def test_the_output_layer_is_kept_dense_unless_asked(prune_output):
    model = MagnitudePruning(sparsity=0.9, finetune_steps=0, prune_output=prune_output).apply(tiny(), context())
    head = model[-1]
    assert isinstance(head, nn.Linear) and head.out_features == INFO.num_classes
    assert (float((head.weight == 0).float().mean()) > 0.1) is prune_output
    assert len(prunable_weights(model, INFO.num_classes)) == len(prunable_weights(model)) - 1


def test_magnitude_pruning_finetune_keeps_zeros_and_uses_the_budget():
    ctx = context()
    before = tiny()
    model = MagnitudePruning(sparsity=0.5, finetune_steps=5).apply(tiny(), ctx)
    assert ctx.cost.finetune_steps == 5
    pruned = model[4].weight
    assert float((pruned == 0).float().mean()) > 0.3
    assert not torch.equal(pruned[pruned != 0], before[4].weight[pruned != 0])  # kept weights were trained


def test_magnitude_pruning_over_budget_fails():
    with pytest.raises(BudgetExceeded, match="5 fine-tune steps asked, 3 left of the budget of 3"):
        MagnitudePruning(sparsity=0.5, finetune_steps=5).apply(tiny(), context(budget=3))


def test_method_params_are_validated_on_construction():
    with pytest.raises(ParamError, match="'magnitude-pruning': parameter 'sparsity' got 1.2"):
        MagnitudePruning(sparsity=1.2)


def layer_sparsities(model):
    return [float((m.weight == 0).float().mean()) for m, _ in prunable_weights(model, INFO.num_classes)]


def test_layer_scope_prunes_every_layer_to_the_target():
    model = MagnitudePruning(sparsity=0.6, scope="layer", finetune_steps=0).apply(tiny(), context())
    assert layer_sparsities(model) == pytest.approx([0.6] * 2, abs=0.02)


def test_global_scope_prunes_layers_unevenly():
    spread = layer_sparsities(MagnitudePruning(sparsity=0.6, finetune_steps=0).apply(tiny(), context()))
    assert max(spread) - min(spread) > 0.05


def test_gradual_schedule_ramps_up_and_ends_at_the_target():
    from benchsuite_plugins.methods.magnitude_pruning import cubic_schedule

    levels = cubic_schedule(0.8, 4)
    assert levels[-1] == pytest.approx(0.8) and levels == sorted(levels) and levels[0] > 0.8 / 4
    ctx = context()
    model = MagnitudePruning(sparsity=0.8, schedule="gradual", stages=4, finetune_steps=20).apply(tiny(), ctx)
    weights = [m.weight for m, _ in prunable_weights(model, INFO.num_classes)]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.8, abs=2e-3) and ctx.cost.finetune_steps == 20


def test_a_shortened_gradual_run_still_reaches_the_target():
    ctx = MethodContext(task=INFO, teacher=tiny(), seed=0, device=torch.device("cpu"), finetune_budget_steps=100,
                        train_stream=stream, max_steps_per_request=2)
    model = MagnitudePruning(sparsity=0.7, schedule="gradual", finetune_steps=50).apply(tiny(), ctx)
    weights = [m.weight for m, _ in prunable_weights(model, INFO.num_classes)]
    assert sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights) == pytest.approx(0.7, abs=2e-3)
    assert ctx.cost.finetune_steps == 2


def test_magnitude_pruning_refuses_a_model_without_weights():
    from benchsuite import Unsupported

    with pytest.raises(Unsupported):
        MagnitudePruning().apply(nn.Sequential(nn.ReLU()), context())
