"""magnitude-pruning: unstructured pruning of the smallest-magnitude weights (global or per layer, one-shot or
gradual), with fine-tuning under fixed masks; the masks are made permanent at the end."""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl
from benchsuite.sdk.training import train

from .language_models import training_loss

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)


def prunable_weights(model: nn.Module, num_classes: int | None = None) -> list[tuple[nn.Module, str]]:
    """Every weight matrix/kernel of Linear, Conv and Embedding layers (biases and norms are kept), each tensor once.

    With `num_classes`, the output layer (the last Linear with that many outputs: a language model's vocabulary
    projection) is left out, and so is a layer whose weight it shares (a language model's tied input embedding).
    """
    modules = [m for m in model.modules() if isinstance(m, PRUNABLE)]
    if num_classes is not None:
        heads = [m for m in modules if isinstance(m, nn.Linear) and m.out_features == num_classes]
        if heads:
            modules = [m for m in modules if m.weight is not heads[-1].weight]
    # a tied weight is pruned once: removing the mask writes the pruned values into the shared tensor
    unique = {id(m.weight): m for m in reversed(modules)}
    return [(m, "weight") for m in modules if unique[id(m.weight)] is m]


def cubic_schedule(final: float, stages: int) -> list[float]:
    """Cumulative sparsity after each stage: s_k = s_f (1 - (1 - k/n)^3) (Zhu & Gupta, 2017)."""
    return [final * (1 - (1 - k / stages) ** 3) for k in range(1, stages + 1)]


class MagnitudePruning(CompressionMethod):
    name = "magnitude-pruning"
    family = "pruning"
    version = "3"
    parameters = (
        Param("sparsity", float, 0.5, "fraction of prunable weights set to zero", min=0.0, max=0.99),
        Param("scope", str, "global", "rank weights across all layers (global) or within each layer (layer)",
              choices=("global", "layer")),
        Param("schedule", str, "oneshot", "prune once, then fine-tune (oneshot), or in cubic increments spread "
              "over the first 3/4 of fine-tuning (gradual)", choices=("oneshot", "gradual")),
        Param("stages", int, 8, "number of increments of the gradual schedule", min=1, max=100),
        Param("finetune_steps", int, 100, "fine-tuning steps with the masks held fixed", min=0),
        Param("lr", float, 0.0, "fine-tuning learning rate; 0 uses the task's", min=0.0, max=1.0),
        Param("prune_output", bool, False, "also prune the output (classifier) layer; ranked globally with the "
              "rest, its small weights can all go (MiniLM pruned to 70 percent lost its whole head and predicted one class)"),
    )
    standard_configs = ({"sparsity": 0.5},)
    sweep_configs = ({"sparsity": 0.7}, {"sparsity": 0.9}, {"sparsity": 0.9, "schedule": "gradual"},
                     {"sparsity": 0.5, "scope": "layer"})

    def _prune_to(self, targets: list[tuple[nn.Module, str]], before: float, after: float) -> None:
        if after <= before:
            return
        amount = (after - before) / (1 - before)  # torch.nn.utils.prune takes a fraction of what is left
        if self.params["scope"] == "global":
            prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
        else:
            for module, attr in targets:
                prune.l1_unstructured(module, attr, amount=amount)

    def apply(self, model, context):
        targets = prunable_weights(model, None if self.params["prune_output"] else context.task.num_classes)
        if not targets:
            raise Unsupported("magnitude-pruning found no Linear, Conv or Embedding weights to prune")
        final, steps = self.params["sparsity"], self.params["finetune_steps"]
        gradual = self.params["schedule"] == "gradual" and steps > 0
        levels = cubic_schedule(final, self.params["stages"]) if gradual else [final]
        self._prune_to(targets, 0.0, levels[0])
        if steps:
            # stage k > 0 is reached after k equal slices of the first 3/4 of the steps
            at_step = {round((k * 0.75 * steps) / len(levels)): k for k in range(1, len(levels))}
            done = 0

            def after_step() -> None:
                nonlocal done
                done += 1
                if done in at_step:
                    k = at_step[done]
                    self._prune_to(targets, levels[k - 1], levels[k])

            # the masks live in forward pre-hooks, so gradients reach only the kept weights' originals
            train(model, context.training_batches(steps), steps, self.params["lr"] or context.task.finetune_lr,
                  loss_fn=training_loss, after_step=after_step, freeze_batchnorm=context.task.freeze_batchnorm)
            reached = levels[max([0] + [k for s, k in at_step.items() if s <= done])]
            self._prune_to(targets, reached, final)  # a shortened run (--quick, time budget) still ends at target
        for module, attr in targets:
            prune.remove(module, attr)  # make the masks permanent: plain weights with zeros
        return model.eval()


@hookimpl
def benchsuite_register_methods(register):
    register(MagnitudePruning)
