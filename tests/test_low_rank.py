import pytest
import torch
from torch import nn

from benchsuite import Unsupported
from benchsuite.errors import ParamError
from benchsuite.sdk.interfaces import BudgetExceeded, MethodContext, TaskInfo
from benchsuite_plugins.methods import low_rank
from benchsuite_plugins.methods.low_rank import (LowRank, energy_rank, factorize_conv, factorize_linear,
                                                 factorize_pointwise_conv, ratio_rank, tucker2_factors)

from conftest import small_images as stream

INFO = TaskInfo("t", "vision", "1", "accuracy", True, 3, 8, finetune_lr=1e-2)


def tiny():
    """A conv stack and an MLP wide enough to factorize, a 1-channel first conv and a 3-class head that are not."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1, bias=False),
                         nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 32),
                         nn.ReLU(), nn.Linear(32, 3)).eval()


def context(budget=100):
    return MethodContext(task=INFO, teacher=tiny(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=budget, train_stream=stream)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_full_rank_svd_reproduces_the_layer():
    torch.manual_seed(0)
    layer = nn.Linear(12, 7)
    x = torch.randn(5, 12)
    pair = factorize_linear(layer, rank=7)
    with torch.no_grad():
        assert torch.allclose(pair(x), layer(x), atol=1e-5)
        assert torch.allclose(pair[1].weight @ pair[0].weight, layer.weight, atol=1e-5)
    assert pair[0].bias is None and torch.equal(pair[1].bias, layer.bias)


def test_truncated_svd_is_exact_on_a_low_rank_matrix():
    torch.manual_seed(0)
    layer = nn.Linear(40, 30)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(30, 4) @ torch.randn(4, 40))  # rank 4
    pair = factorize_linear(layer, rank=4)
    x = torch.randn(8, 40)
    with torch.no_grad():
        assert torch.allclose(pair(x), layer(x), atol=1e-4)
    assert n_params(pair) < n_params(layer)


@pytest.mark.parametrize("kwargs", [{"padding": 1}, {"stride": 2, "padding": 2, "dilation": 2},
                                    {"padding": 1, "padding_mode": "circular", "bias": False}])
def test_tucker2_at_full_rank_reproduces_the_conv(kwargs):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 5, 3, **kwargs)
    chain = factorize_conv(conv, rank_out=5, rank_in=6)
    assert [m.kernel_size for m in chain] == [(1, 1), (3, 3), (1, 1)]
    x = torch.randn(2, 6, 9, 9)
    with torch.no_grad():
        assert torch.allclose(chain(x), conv(x), atol=1e-5)


def test_pointwise_conv_uses_plain_svd():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 6, 1, stride=2, padding=1)
    pair = factorize_pointwise_conv(conv, rank=6)
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        assert torch.allclose(pair(x), conv(x), atol=1e-5)


def test_hooi_fits_no_worse_than_hosvd():
    torch.manual_seed(0)
    kernel = torch.randn(16, 12, 3, 3)

    def error(iterations):
        u_out, core, u_in = tucker2_factors(kernel, 4, 3, iterations=iterations)
        return float((torch.einsum("or,rshw,is->oihw", u_out, core, u_in) - kernel.double()).norm())

    assert error(2) <= error(0) + 1e-9


def test_energy_rule_picks_the_expected_rank():
    spectrum = torch.tensor([50.0, 30.0, 10.0, 5.0, 5.0]).sqrt()  # squared values sum to 100
    assert energy_rank(spectrum, 0.8) == 2
    assert energy_rank(spectrum, 0.81) == 3
    assert energy_rank(spectrum, 0.95) == 4  # exactly 95 of 100 (up to float32 rounding) is enough
    assert energy_rank(spectrum, 1.0) == 5
    layer = nn.Linear(20, 20, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([3.0, 2.0, 1.0] + [0.1] * 17)))  # squares: 9, 4, 1, 17 * 0.01
    assert LowRank(energy=0.9).rank(layer.weight) == 2 and LowRank(energy=0.97).rank(layer.weight) == 3


def test_energy_rule_finds_the_multilinear_rank_of_a_conv_kernel_and_tucker2_recovers_it():
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 16, 3, padding=1)
    with torch.no_grad():  # channel ranks 2 (out) and 3 (in)
        conv.weight.copy_(torch.einsum("or,rshw,is->oihw", torch.randn(16, 2), torch.randn(2, 3, 3, 3),
                                       torch.randn(12, 3)))
    method = LowRank(energy=0.9999, min_features=4)
    assert method.plan(conv) == (2, 3)
    chain = method.factorize(conv)
    x = torch.randn(2, 12, 6, 6)
    with torch.no_grad():
        assert torch.allclose(chain(x), conv(x), atol=1e-4)


def test_ratio_rule_rounds_up():
    assert ratio_rank(8, 0.25) == 2
    assert ratio_rank(30, 0.1) == 3  # 0.1 * 30 is 3.0000000000000004 in floats
    assert ratio_rank(10, 0.25) == 3
    assert ratio_rank(3, 0.01) == 1


def test_apply_shrinks_the_model_keeps_its_output_shape_and_skips_small_layers():
    x = torch.randn(4, 1, 8, 8)
    model = LowRank(rank_ratio=0.25, min_features=8, finetune_steps=0).apply(tiny(), context())
    assert isinstance(model[0], nn.Conv2d)  # 1 input channel: below min_features
    assert isinstance(model[2], nn.Sequential) and len(model[2]) == 3  # Tucker-2
    assert isinstance(model[7], nn.Sequential) and model[7][0].out_features == 8  # ceil(0.25 * 32)
    assert isinstance(model[9], nn.Linear)  # the 3-class head
    assert n_params(model) < n_params(tiny())
    with torch.no_grad():
        assert model(x).shape == tiny()(x).shape == (4, 3)


def test_layers_that_would_grow_are_left_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    method = LowRank(rank_ratio=0.5, min_features=4, finetune_steps=0)  # rank 32: 32 * 128 == 64 * 64, no saving
    assert method.plan(model[0]) is None
    with pytest.raises(Unsupported, match="would not shrink"):
        method.apply(model, context())
    assert method.plan(nn.Conv2d(1, 64, 3)) is None  # 1 + 9r + 64r >= 576 for any rank


def test_targets_select_the_layer_types():
    linear_only = LowRank(targets="linear", rank_ratio=0.25, min_features=8, finetune_steps=0).apply(tiny(), context())
    conv_only = LowRank(targets="conv", rank_ratio=0.25, min_features=8, finetune_steps=0).apply(tiny(), context())
    assert isinstance(linear_only[2], nn.Conv2d) and isinstance(linear_only[7], nn.Sequential)
    assert isinstance(conv_only[2], nn.Sequential) and isinstance(conv_only[7], nn.Linear)


def test_fused_torch_transformer_layers_are_left_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), nn.Linear(32, 32)).eval()
    out = LowRank(rank_ratio=0.25, min_features=4, finetune_steps=0).apply(model, context())
    assert isinstance(out[0].linear1, nn.Linear) and isinstance(out[0].self_attn.out_proj, nn.Linear)
    assert isinstance(out[1], nn.Sequential)
    with torch.no_grad():
        out(torch.randn(2, 5, 32))  # the fast path still finds the weights it reads


def test_finetune_trains_the_factors_and_uses_the_budget():
    ctx = context()
    oneshot = LowRank(rank_ratio=0.25, min_features=8, finetune_steps=0).apply(tiny(), context())
    model = LowRank(rank_ratio=0.25, min_features=8, finetune_steps=5).apply(tiny(), ctx)
    assert ctx.cost.finetune_steps == 5
    assert not torch.equal(model[7][0].weight, oneshot[7][0].weight)
    assert not model.training


def test_finetune_over_budget_fails():
    with pytest.raises(BudgetExceeded, match="5 fine-tune steps asked, 3 left of the budget of 3"):
        LowRank(min_features=8, finetune_steps=5).apply(tiny(), context(budget=3))


@pytest.mark.parametrize("params", [{"rank_ratio": 0.0}, {"rank_ratio": 1.5}, {"energy": 1.2},
                                    {"targets": "embedding"}, {"finetune_steps": -1}, {"min_features": 0}])
def test_bad_params_fail_on_construction(params):
    with pytest.raises(ParamError, match="'low-rank': parameter"):
        LowRank(**params)


def test_nothing_to_factorize_is_unsupported():
    with pytest.raises(Unsupported, match="no Linear or Conv2d layer"):
        LowRank().apply(nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 3)), context())  # below 32 features
    with pytest.raises(Unsupported, match="no Conv2d layer"):
        LowRank(targets="conv", min_features=4).apply(nn.Sequential(nn.Linear(64, 64)), context())


def test_registers_through_the_hook():
    registered = []
    low_rank.benchsuite_register_methods(registered.append)
    assert registered == [LowRank]
    assert LowRank.family == "factorization" and len(LowRank.standard_configs) == 1
    for config in LowRank.standard_configs + LowRank.sweep_configs:
        LowRank(**config)  # every documented configuration validates
