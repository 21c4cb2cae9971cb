"""The methods that restructure a network, on torchvision-layout mobile CNNs (MobileNetV2, EfficientNet-Lite)."""

import pytest
import torch
from torch import nn

from benchsuite.sdk.interfaces import MethodContext, TaskInfo
from benchsuite.grid.planning import build_grid
from benchsuite.sdk.training import train
from benchsuite_plugins.methods.distillation import Distillation, drop_residual_blocks, residual_blocks
from benchsuite_plugins.methods.early_exit import EarlyExit, stages_of
from benchsuite_plugins.tasks.efficientnet_lite import EfficientNetLite, package_model
from benchsuite_plugins.tasks.mobilenet_v2 import MobileNetV2

INFO = TaskInfo("t", "vision", "1", "top1_agreement", True, 1000, 4, finetune_lr=1e-3, freeze_batchnorm=True)
SIZE = 64


def tiny_mobilenet():
    torch.manual_seed(0)
    return MobileNetV2(width_mult=0.25).eval()


def rgb_images(batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield (torch.randn(batch_size, 3, SIZE, SIZE, generator=g),), torch.randint(0, 1000, (batch_size,), generator=g)


def context(teacher, budget=20):
    return MethodContext(task=INFO, teacher=teacher, seed=0, device=torch.device("cpu"), finetune_budget_steps=budget,
                         train_stream=rgb_images, batch_size=4)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_efficientnet_lite_in_torchvisions_layout_computes_what_the_package_computes():
    net = package_model("efficientnet-lite0").eval()
    ours = EfficientNetLite(net).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(ours(x), net(x))
    assert len(residual_blocks(ours)) == 9  # the stride-1 MBConv blocks with as many channels out as in


def test_early_exit_cuts_a_mobilenet_per_resolution_with_small_global_pooled_heads():
    model = tiny_mobilenet()
    stages = stages_of(model, 1000)
    assert stages.depth == 5  # 19 blocks in features; a new stage at each of the four strided blocks after the stem
    assert [len(b) for b in stages.blocks] == [2, 2, 3, 7, 5]
    backbone = sum(p.numel() for p in model.parameters())
    assert all(sum(p.numel() for p in head.parameters()) < backbone for head in stages.exits)
    early = EarlyExit(finetune_steps=3, threshold=0.0).apply(model, context(tiny_mobilenet()))
    x = next(rgb_images(6, 1))[0]
    with torch.no_grad():
        out = early(*x)
    assert out.shape == (6, 1000)
    assert early.benchsuite_metrics()["mean_exit_depth"] == 1  # threshold 0: every sample leaves at the first exit


def test_early_exit_at_threshold_one_reproduces_the_mobilenet():
    model = tiny_mobilenet()
    reference = tiny_mobilenet()
    early = EarlyExit(finetune_steps=2, threshold=1.0).apply(model, context(tiny_mobilenet()))
    x = next(rgb_images(3, 2))[0]
    with torch.no_grad():
        assert torch.allclose(early(*x), reference(*x), atol=1e-5)


@pytest.mark.parametrize("make", [tiny_mobilenet, lambda: EfficientNetLite(package_model()).eval()],
                         ids=["mobilenetv2", "efficientnet-lite0"])
def test_distillation_drops_half_the_residual_blocks_and_starts_from_the_teachers_others(make):
    teacher, model = make(), make()
    blocks_before = list(model.features)
    residual = residual_blocks(model)
    dropped = drop_residual_blocks(model, 0.5)
    assert len(dropped) == (len(residual) + 1) // 2 and set(dropped) <= set(residual)
    kept = [b for i, b in enumerate(blocks_before) if i not in dropped]
    assert all(a is b for a, b in zip(model.features, kept, strict=True))
    student = Distillation(finetune_steps=2, drop_blocks=0.5).apply(make(), context(teacher))
    assert len(student.features) == len(blocks_before) - len(dropped)
    with torch.no_grad():
        assert student(next(rgb_images(2, 3))[0][0]).shape == (2, 1000)


def test_distillation_skips_a_cnn_without_residual_blocks_to_drop():
    from benchsuite import Unsupported

    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with pytest.raises(Unsupported, match="residual blocks"):
        Distillation(finetune_steps=1).apply(plain, context(plain))


def test_training_with_frozen_batchnorm_keeps_the_running_statistics():
    model = tiny_mobilenet()
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    train(model, rgb_images(4, 0), 2, 1e-3, freeze_batchnorm=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert not torch.equal(model.classifier[1].weight, tiny_mobilenet().classifier[1].weight)  # weights did train
    train(model, rgb_images(4, 0), 2, 1e-3)
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_the_default_suite_leaves_out_costly_tasks_that_full_and_naming_include(all_plugins):
    default = build_grid(all_plugins).tasks
    assert "mnist-cnn" in default and "sentiment-minilm" in default
    assert not {"imagenet-mobilenetv2", "tweets-sentiment", "sst2-distilbert"} & set(default)
    assert "imagenet-mobilenetv2" in build_grid(all_plugins, suite="full").tasks
    assert build_grid(all_plugins, ["imagenet-mobilenetv2"]).tasks == ("imagenet-mobilenetv2",)
