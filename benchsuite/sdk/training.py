"""The one supervised training loop, shared by tasks (reference models) and methods (fine-tuning)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from benchsuite.sdk.interfaces import Batch


def train(model: nn.Module, batches: Iterable[Batch], steps: int, lr: float, *, weight_decay: float = 0.0,
          warmup_fraction: float = 0.0, loss_fn: Callable[[torch.Tensor, tuple, torch.Tensor], torch.Tensor] | None = None,
          after_step: Callable[[], None] | None = None, progress: str | None = None,
          freeze_batchnorm: bool = False) -> nn.Module:
    """Train `model` with AdamW and a linear warm-up/decay schedule on at most `steps` batches.

    :param loss_fn: ``loss_fn(logits, inputs, labels)``; cross-entropy if None (distillation passes its own).
    :param after_step: called after each optimizer step (e.g. to re-apply pruning masks).
    :param progress: description of a progress bar (shown on a terminal only), or None for no bar.
    :param freeze_batchnorm: keep batch-norm layers in eval mode (running statistics fixed; their affine weights
        still train), as `TaskInfo.freeze_batchnorm` asks.
    :return: the model, in eval mode.
    """
    from tqdm.auto import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, int(steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    if freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    bar = tqdm(total=steps, desc=progress, unit="step", position=1, disable=None if progress else True, leave=False)
    for step, (inputs, labels) in enumerate(batches):
        if step >= steps:
            break
        logits = model(*inputs)
        loss = loss_fn(logits, inputs, labels) if loss_fn else nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if after_step is not None:
            after_step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return model.eval()
