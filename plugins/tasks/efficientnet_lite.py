"""EfficientNet-Lite from efficientnet-lite-pytorch (Apache-2.0), rearranged in torchvision's layout.

The package's model keeps stem, blocks and head as loose attributes and loops over its blocks in `forward`. The
methods that restructure a network (early exits, block-dropping students, structured pruning) understand
torchvision's layout: `features` (an nn.Sequential), global average pooling, `classifier`. `EfficientNetLite`
holds the package's own modules in that layout and computes what the package's `forward` computes in eval mode
(checked in the tests); the one difference is that fine-tuning runs without drop-connect (stochastic depth).
"""

from __future__ import annotations

import torch
from torch import nn

from benchsuite.errors import DataError


def package_model(name: str = "efficientnet-lite0") -> nn.Module:
    """The package's untrained EfficientNet-Lite, whose state dict the released weights load into."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise DataError(f"{name} needs the model code; install it with: pip install efficientnet-lite-pytorch") from None
    return EfficientNet.from_name(name)


def is_residual_block(block: nn.Module) -> bool:
    """An MBConv block whose output is its input plus a branch (stride 1, as many channels out as in)."""
    args = getattr(block, "_block_args", None)
    return (args is not None and bool(getattr(block, "id_skip", False)) and args.stride == 1
            and args.input_filters == args.output_filters)


class EfficientNetLite(nn.Module):
    """`features` (stem, MBConv blocks, 1x1 head conv), global average pooling, `classifier` (dropout, linear)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6(inplace=False))
        head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6(inplace=False))
        self.features = nn.Sequential(stem, *net._blocks, head)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(net._dropout, net._fc)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(images)), 1))
