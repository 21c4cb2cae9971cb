"""low-rank: truncated SVD of Linear layers and Tucker-2 of Conv2d layers, each replaced by a chain of smaller ones."""

from __future__ import annotations

import math

import torch
from torch import nn

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl
from benchsuite.sdk.training import train

from .language_models import training_loss

TARGETS = {"all": (nn.Linear, nn.Conv2d), "linear": (nn.Linear,), "conv": (nn.Conv2d,)}
#: torch modules that read their child layers' `.weight` directly (fused fast paths), so those cannot be swapped
WEIGHT_READERS = (nn.MultiheadAttention, nn.TransformerEncoderLayer)
#: HOOI sweeps that refine the HOSVD factors of a conv kernel (each lowers the fit error; two get most of the gain)
HOOI_ITERATIONS = 2


def ratio_rank(full_rank: int, rank_ratio: float) -> int:
    """``ceil(rank_ratio * full_rank)``, at least 1 (rounded first, so that 0.1 * 30 gives 3, not 4)."""
    return max(1, min(full_rank, math.ceil(round(rank_ratio * full_rank, 6))))


def energy_rank(singular_values: torch.Tensor, energy: float) -> int:
    """The smallest rank whose singular values (largest first) hold `energy` of the sum of their squares."""
    squared = singular_values.double() ** 2
    kept = torch.cumsum(squared, 0) / squared.sum().clamp(min=torch.finfo(torch.float64).tiny)
    # the tolerance absorbs float32 rounding, so that a spectrum holding exactly `energy` is not pushed up a rank
    rank = int(torch.searchsorted(kept, torch.tensor([energy - 1e-6], dtype=kept.dtype))) + 1
    return max(1, min(rank, len(singular_values)))


def tied_weights(model: nn.Module) -> set[int]:
    """The ids of the parameters that two or more distinct modules hold (a language model's output layer tied to its
    input embedding)."""
    owners: dict[int, set[int]] = {}
    for module in model.modules():
        for param in module.parameters(recurse=False):
            owners.setdefault(id(param), set()).add(id(module))
    return {param for param, modules in owners.items() if len(modules) > 1}


def svd(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.linalg.svd(matrix, full_matrices=False)``, computed on the wide side: LAPACK took 5 s for a tall
    1536 x 576 matrix (a Llama FFN's gate_proj) and 0.7 s for its transpose, so 60 such layers took minutes."""
    if matrix.shape[0] > matrix.shape[1]:
        u, s, vh = torch.linalg.svd(matrix.T, full_matrices=False)
        return vh.T, s, u.T
    return torch.linalg.svd(matrix, full_matrices=False)


def _leading(matrix: torch.Tensor, rank: int) -> torch.Tensor:
    """The `rank` leading left singular vectors of `matrix`, as columns."""
    u, _, _ = svd(matrix)
    return u[:, :rank]


def _like(weight: torch.Tensor, value: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(value.to(dtype=weight.dtype, device=weight.device).contiguous())


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    """``Linear(in, out)`` as ``Linear(in, rank, bias=False)`` then ``Linear(rank, out)`` from its truncated SVD.

    The singular values are split evenly (a square root into each factor) so that both factors have the same
    scale, which keeps fine-tuning well conditioned.
    """
    weight = layer.weight.detach()
    u, s, vh = svd(weight.double())
    root = s[:rank].sqrt()
    first = nn.Linear(layer.in_features, rank, bias=False, device=weight.device, dtype=weight.dtype)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None, device=weight.device,
                       dtype=weight.dtype)
    first.weight = _like(weight, root[:, None] * vh[:rank])
    second.weight = _like(weight, u[:, :rank] * root)
    if layer.bias is not None:
        second.bias = _like(weight, layer.bias.detach())
    return nn.Sequential(first, second)


def factorize_pointwise_conv(layer: nn.Conv2d, rank: int) -> nn.Sequential:
    """A 1x1 ``Conv2d`` as two 1x1 convolutions from the truncated SVD of its ``out x in`` matrix."""
    weight = layer.weight.detach()
    u, s, vh = svd(weight.double().flatten(1))
    root = s[:rank].sqrt()
    # stride and padding go on the first conv: it has no bias, so padded positions stay zero until the bias
    first = nn.Conv2d(layer.in_channels, rank, 1, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                      bias=False, padding_mode=layer.padding_mode, device=weight.device, dtype=weight.dtype)
    second = nn.Conv2d(rank, layer.out_channels, 1, bias=layer.bias is not None, device=weight.device,
                       dtype=weight.dtype)
    first.weight = _like(weight, (root[:, None] * vh[:rank])[:, :, None, None])
    second.weight = _like(weight, (u[:, :rank] * root)[:, :, None, None])
    if layer.bias is not None:
        second.bias = _like(weight, layer.bias.detach())
    return nn.Sequential(first, second)


def tucker2_factors(kernel: torch.Tensor, rank_out: int, rank_in: int,
                    iterations: int = HOOI_ITERATIONS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tucker-2 of a ``(out, in, kh, kw)`` kernel along its two channel modes: HOSVD, then HOOI sweeps.

    :return: ``(u_out, core, u_in)`` with ``u_out`` ``(out, rank_out)``, ``core`` ``(rank_out, rank_in, kh, kw)``,
        ``u_in`` ``(in, rank_in)`` (orthonormal columns); the kernel is approximately
        ``einsum("or,rshw,is->oihw", u_out, core, u_in)``.
    """
    k = kernel.double()
    u_out = _leading(k.flatten(1), rank_out)
    u_in = _leading(k.transpose(0, 1).flatten(1), rank_in)
    for _ in range(iterations):
        u_out = _leading(torch.einsum("oihw,is->oshw", k, u_in).flatten(1), rank_out)
        u_in = _leading(torch.einsum("oihw,or->irhw", k, u_out).flatten(1), rank_in)
    core = torch.einsum("oihw,or,is->rshw", k, u_out, u_in)
    return u_out, core, u_in


def factorize_conv(layer: nn.Conv2d, rank_out: int, rank_in: int) -> nn.Sequential:
    """A kxk ``Conv2d`` as 1x1 (in->rank_in), kxk (rank_in->rank_out, the original geometry), 1x1 (rank_out->out)."""
    weight = layer.weight.detach()
    u_out, core, u_in = tucker2_factors(weight, rank_out, rank_in)
    kwargs = {"device": weight.device, "dtype": weight.dtype}
    # the first 1x1 conv has no bias, so padding its output with zeros equals padding its input
    first = nn.Conv2d(layer.in_channels, rank_in, 1, bias=False, **kwargs)
    middle = nn.Conv2d(rank_in, rank_out, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                       dilation=layer.dilation, bias=False, padding_mode=layer.padding_mode, **kwargs)
    last = nn.Conv2d(rank_out, layer.out_channels, 1, bias=layer.bias is not None, **kwargs)
    first.weight = _like(weight, u_in.T[:, :, None, None])
    middle.weight = _like(weight, core)
    last.weight = _like(weight, u_out[:, :, None, None])
    if layer.bias is not None:
        last.bias = _like(weight, layer.bias.detach())
    return nn.Sequential(first, middle, last)


class LowRank(CompressionMethod):
    name = "low-rank"
    family = "factorization"
    version = "1"
    parameters = (
        Param("rank_ratio", float, 0.25, "rank kept, as a fraction of min(in, out) (of each channel mode for convs)",
              min=0.01, max=1.0),
        Param("energy", float, 0.0, "if > 0, keep the smallest rank holding this fraction of the squared singular "
              "values instead of rank_ratio", min=0.0, max=1.0),
        Param("targets", str, "all", "layer types to factorize", choices=tuple(TARGETS)),
        Param("min_features", int, 32, "leave layers with fewer input or output features/channels than this "
              "(classifier heads, first convs)", min=1),
        Param("finetune_steps", int, 100, "fine-tuning steps after factorization (0: one-shot)", min=0),
        Param("lr", float, 0.0, "fine-tuning learning rate; 0 uses the task's", min=0.0, max=1.0),
    )
    standard_configs = ({"rank_ratio": 0.25},)
    sweep_configs = ({"rank_ratio": 0.125}, {"rank_ratio": 0.5}, {"energy": 0.9})

    def rank(self, matrix: torch.Tensor) -> int:
        """The rank kept for `matrix` (a weight, or one unfolding of a conv kernel) under rank_ratio or energy."""
        if self.params["energy"] > 0:
            wide = matrix if matrix.shape[0] <= matrix.shape[1] else matrix.T  # as `svd`: LAPACK is slow on tall ones
            return energy_rank(torch.linalg.svdvals(wide.detach().double()), self.params["energy"])
        return ratio_rank(min(matrix.shape), self.params["rank_ratio"])

    def plan(self, layer: nn.Module) -> tuple[int, ...] | None:
        """The ranks `layer` would be factorized at, or None if it is left alone (too small, or no saving)."""
        floor = self.params["min_features"]
        if isinstance(layer, nn.Linear):
            n_in, n_out = layer.in_features, layer.out_features
            if min(n_in, n_out) < floor:
                return None
            rank = self.rank(layer.weight)
            return (rank,) if rank * (n_in + n_out) < n_in * n_out else None
        if isinstance(layer, nn.Conv2d) and layer.groups == 1:
            n_in, n_out = layer.in_channels, layer.out_channels
            if min(n_in, n_out) < floor:
                return None
            weight = layer.weight
            area = weight.shape[2] * weight.shape[3]
            if area == 1:
                rank = self.rank(weight.flatten(1))
                return (rank,) if rank * (n_in + n_out) < n_in * n_out else None
            rank_out, rank_in = self.rank(weight.flatten(1)), self.rank(weight.transpose(0, 1).flatten(1))
            factored = n_in * rank_in + rank_in * rank_out * area + rank_out * n_out
            return (rank_out, rank_in) if factored < n_in * n_out * area else None
        return None

    def factorize(self, layer: nn.Module) -> nn.Sequential | None:
        """The factorized replacement of `layer`, or None if it is left alone."""
        ranks = self.plan(layer)
        if ranks is None:
            return None
        if isinstance(layer, nn.Linear):
            return factorize_linear(layer, *ranks)
        if len(ranks) == 1:
            return factorize_pointwise_conv(layer, *ranks)
        return factorize_conv(layer, *ranks)

    def apply(self, model, context):
        kinds = TARGETS[self.params["targets"]]
        replacements: dict[int, nn.Module | None] = {}  # by id: a layer used at several places is factorized once
        sites: list[tuple[nn.Module, str, nn.Module]] = []
        # the other holder of a tied weight would keep the full tensor: factorizing would add weights, not remove them
        tied = tied_weights(model)
        for parent in list(model.modules()):
            if isinstance(parent, WEIGHT_READERS):
                continue
            for attr, child in parent.named_children():
                if not isinstance(child, kinds) or id(child.weight) in tied:
                    continue
                if id(child) not in replacements:
                    replacements[id(child)] = self.factorize(child)
                if replacements[id(child)] is not None:
                    sites.append((parent, attr, child))
        if not sites:
            kind = {"all": "Linear or Conv2d", "linear": "Linear", "conv": "Conv2d"}[self.params["targets"]]
            raise Unsupported(f"no {kind} layer to factorize: each has fewer than {self.params['min_features']} "
                              "features on a side, would not shrink at this rank, shares its weight with another "
                              "layer, or sits in a fused torch module")
        for parent, attr, child in sites:
            setattr(parent, attr, replacements[id(child)])
        steps = self.params["finetune_steps"]
        if steps:
            train(model, context.training_batches(steps), steps, self.params["lr"] or context.task.finetune_lr,
                  loss_fn=training_loss, freeze_batchnorm=context.task.freeze_batchnorm)
        return model.eval()


@hookimpl
def benchsuite_register_methods(register):
    register(LowRank)
