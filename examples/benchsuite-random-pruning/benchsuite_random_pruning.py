"""random-pruning: zero a random fraction of every weight matrix (the control that magnitude pruning must beat)."""

import torch
from torch import nn

from benchsuite import CompressionMethod, Param, hookimpl


class RandomPruning(CompressionMethod):
    name = "random-pruning"
    family = "pruning"
    version = "1"
    parameters = (Param("sparsity", float, 0.5, "fraction of each weight tensor set to zero", min=0.0, max=0.99),)
    standard_configs = ({"sparsity": 0.5},)

    def apply(self, model, context):
        generator = torch.Generator().manual_seed(context.seed)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding)):
                    keep = torch.rand(module.weight.shape, generator=generator) >= self.params["sparsity"]
                    module.weight.mul_(keep)
        return model


@hookimpl
def benchsuite_register_methods(register):
    register(RandomPruning)
