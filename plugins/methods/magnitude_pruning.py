"""magnitude-pruning: global unstructured pruning of the smallest-magnitude weights, optional fine-tuning."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from benchsuite import CompressionMethod, Param, hookimpl
from benchsuite.training import train

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """Every weight matrix/kernel of Linear, Conv and Embedding layers (biases and norms are kept)."""
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


class MagnitudePruning(CompressionMethod):
    name = "magnitude-pruning"
    family = "pruning"
    parameters = (
        Param("sparsity", float, 0.5, "fraction of prunable weights set to zero", min=0.0, max=0.99),
        Param("finetune_steps", int, 100, "fine-tuning steps with the masks held fixed", min=0),
        Param("lr", float, 0.0, "fine-tuning learning rate; 0 uses the task's", min=0.0, max=1.0),
    )
    standard_configs = ({"sparsity": 0.5},)

    def apply(self, model, context):
        targets = prunable_weights(model)
        if not targets:
            raise ValueError("the model has no Linear, Conv or Embedding weights to prune")
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=self.params["sparsity"])
        steps = self.params["finetune_steps"]
        if steps:
            # the masks live in forward pre-hooks, so gradients reach only the kept weights' originals
            train(model, context.training_batches(steps), steps, self.params["lr"] or context.task.finetune_lr)
        for module, attr in targets:
            prune.remove(module, attr)  # make the masks permanent: plain weights with zeros
        return model.eval()


@hookimpl
def benchsuite_register_methods(register):
    register(MagnitudePruning)
