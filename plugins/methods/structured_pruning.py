"""structured-pruning: remove whole conv channels, attention heads and FFN neurons, so the model really shrinks.

CNNs (Conv2d/BatchNorm/Linear layers) lose output channels through torch-pruning's dependency graph, which
keeps every coupled layer consistent; the final classifier keeps its outputs. Models that contain a BERT-style
encoder lose attention heads and FFN intermediate neurons ("Are Sixteen Heads Really Better than One?",
Michel et al. 2019): the q/k/v/output projections and the FFN matrices are sliced to the kept rows and columns.
The pruned model is then fine-tuned with cross-entropy (distillation from the teacher measured no better).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl
from benchsuite.sdk.training import train

#: training batches spent estimating Taylor importance (counted against the fine-tuning budget like any step)
TAYLOR_BATCHES = 8
#: modules the CNN path can prune; any other module that holds parameters makes the model unsupported
CNN_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)


class StructuredPruning(CompressionMethod):
    name = "structured-pruning"
    family = "pruning"
    version = "1"
    parameters = (
        Param("ratio", float, 0.5, "fraction of conv channels, or of attention heads and FFN neurons, removed",
              min=0.0, max=0.9),
        Param("importance", str, "taylor", "how structures are ranked: magnitude (L2 norm of their weights) or "
              f"taylor (first-order estimate of the loss change on removal, from gradients on {TAYLOR_BATCHES} "
              "training batches that count as fine-tuning steps)", choices=("magnitude", "taylor")),
        Param("finetune_steps", int, 200, "fine-tuning steps after pruning", min=0),
        Param("lr", float, 0.0, "fine-tuning learning rate; 0 uses the task's", min=0.0, max=1.0),
    )
    standard_configs = ({"ratio": 0.5},)
    sweep_configs = ({"ratio": 0.3}, {"ratio": 0.7})

    def apply(self, model, context):
        encoders = bert_encoders(model)
        if encoders:
            prune_transformer(model, encoders, self.params["ratio"], self.params["importance"], context)
        else:
            prune_cnn(model, self.params["ratio"], self.params["importance"], context)
        steps = self.params["finetune_steps"]
        if steps:
            train(model, context.training_batches(steps), steps, self.params["lr"] or context.task.finetune_lr,
                  freeze_batchnorm=context.task.freeze_batchnorm)
        return model.eval()


# --- CNNs: channel pruning through torch-pruning's dependency graph -------------------------------------------


def prune_cnn(model: nn.Module, ratio: float, importance: str, context) -> None:
    """Remove `ratio` of the output channels of every conv/linear layer except the final classifier, in place."""
    for module in model.modules():
        if not isinstance(module, CNN_LAYERS) and any(True for _ in module.parameters(recurse=False)):
            raise Unsupported(f"structured-pruning prunes CNNs (Conv/BatchNorm/Linear layers) and BERT encoders; "
                              f"this model has a {type(module).__name__}")
    if not any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) for m in model.modules()):
        raise Unsupported("structured-pruning found no Conv or Linear layer to prune")
    if ratio == 0:
        return
    import torch_pruning as tp

    example_inputs = next(context.calibration_inputs(1))
    final = last_layer_called(model, example_inputs)

    def forward(m: nn.Module, inputs: tuple) -> torch.Tensor:
        return m(*inputs)

    if importance == "taylor":
        scorer = tp.importance.GroupTaylorImportance()
        model.eval()  # gradients only: BatchNorm statistics stay as they are
        model.zero_grad(set_to_none=True)
        for inputs, labels in context.training_batches(TAYLOR_BATCHES):
            nn.functional.cross_entropy(model(*inputs), labels).backward()  # gradients add up over the batches
    else:
        scorer = tp.importance.GroupMagnitudeImportance(p=2)
    try:
        pruner = tp.pruner.BasePruner(model, example_inputs, importance=scorer, pruning_ratio=ratio,
                                      ignored_layers=[final], forward_fn=forward)
    except Exception as exc:  # the graph tracer cannot follow every forward()
        raise Unsupported(f"torch-pruning could not trace this model: {exc}") from exc
    pruner.step()
    model.zero_grad(set_to_none=True)


def last_layer_called(model: nn.Module, inputs: tuple) -> nn.Module:
    """The last Conv/Linear layer the forward pass calls: the classifier, whose outputs are the classes."""
    called: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda m, _args, _out: called.append(m)) for m in model.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return called[-1]


# --- Transformers: attention heads and FFN neurons of BERT-style encoders -------------------------------------


def bert_encoders(model: nn.Module) -> list[nn.Module]:
    """Submodules shaped like a Hugging Face BertModel: ``encoder.layer[i].attention.self.query`` and so on."""
    found = []
    for module in model.modules():
        layers = getattr(getattr(module, "encoder", None), "layer", None)
        if isinstance(layers, nn.ModuleList) and layers and all(_is_bert_layer(layer) for layer in layers):
            found.append(module)
    return found


def _is_bert_layer(layer: nn.Module) -> bool:
    try:
        attn = layer.attention.self
        linears = (attn.query, attn.key, attn.value, layer.attention.output.dense, layer.intermediate.dense,
                   layer.output.dense)
        return all(isinstance(m, nn.Linear) for m in linears) and isinstance(attn.attention_head_size, int)
    except AttributeError:
        return False


def prune_transformer(model: nn.Module, encoders: list[nn.Module], ratio: float, importance: str,
                      context) -> None:
    """Remove `ratio` of all attention heads and of all FFN neurons (ranked globally), at least one kept per layer."""
    # by identity: a wrapper may reach the same encoder twice, and a layer must be sliced once
    layers = list({id(layer): layer for encoder in encoders for layer in encoder.encoder.layer}.values())
    if ratio == 0:
        return
    if importance == "taylor":
        head_scores, neuron_scores = taylor_scores(model, layers, context.training_batches(TAYLOR_BATCHES))
    else:
        head_scores = [head_magnitudes(layer) for layer in layers]
        neuron_scores = [neuron_magnitudes(layer) for layer in layers]
    for layer, heads, neurons in zip(layers, keep_per_layer(head_scores, ratio), keep_per_layer(neuron_scores, ratio)):
        slice_heads(layer, heads)
        slice_neurons(layer, neurons)


def head_magnitudes(layer: nn.Module) -> torch.Tensor:
    """L2 norm of each head's weights: its rows of query, key and value and its columns of the output projection."""
    attn = layer.attention.self
    heads, size = attn.query.out_features // attn.attention_head_size, attn.attention_head_size
    squares = sum(m.weight.detach().reshape(heads, size, -1).pow(2).sum((1, 2))
                  for m in (attn.query, attn.key, attn.value))
    out = layer.attention.output.dense.weight.detach()  # (hidden, heads * size)
    squares = squares + out.reshape(out.shape[0], heads, size).pow(2).sum((0, 2))
    return squares.sqrt()


def neuron_magnitudes(layer: nn.Module) -> torch.Tensor:
    """L2 norm of each FFN neuron's weights: its row of the intermediate and its column of the output matrix."""
    return (layer.intermediate.dense.weight.detach().pow(2).sum(1)
            + layer.output.dense.weight.detach().pow(2).sum(0)).sqrt()


def taylor_scores(model: nn.Module, layers: list[nn.Module],
                  batches: Iterable[tuple]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """|d loss / d mask| of a mask of ones on every head's and FFN neuron's output, summed over the batches.

    This is the first-order estimate of the loss change when the structure is removed (Michel et al. 2019).
    """
    head_masks, neuron_masks, handles = [], [], []

    def gate(mask: torch.Tensor, width: int):
        def hook(_module: nn.Module, args: tuple) -> tuple:
            return (args[0] * mask.repeat_interleave(width), *args[1:])
        return hook

    for layer in layers:
        attn, device = layer.attention.self, layer.attention.self.query.weight.device
        size = attn.attention_head_size
        head_mask = torch.ones(attn.query.out_features // size, device=device, requires_grad=True)
        neuron_mask = torch.ones(layer.intermediate.dense.out_features, device=device, requires_grad=True)
        handles.append(layer.attention.output.dense.register_forward_pre_hook(gate(head_mask, size)))
        handles.append(layer.output.dense.register_forward_pre_hook(gate(neuron_mask, 1)))
        head_masks.append(head_mask)
        neuron_masks.append(neuron_mask)
    head_scores = [torch.zeros_like(m) for m in head_masks]
    neuron_scores = [torch.zeros_like(m) for m in neuron_masks]
    was_trainable = [p.requires_grad for p in model.parameters()]
    model.eval()  # no dropout: the scores describe the model as it will run
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for inputs, labels in batches:
            masks = head_masks + neuron_masks
            grads = torch.autograd.grad(nn.functional.cross_entropy(model(*inputs), labels), masks)
            for score, grad in zip(head_scores + neuron_scores, grads):
                score += grad.abs()
    finally:
        for h in handles:
            h.remove()
        for p, trainable in zip(model.parameters(), was_trainable):
            p.requires_grad_(trainable)
    return head_scores, neuron_scores


def keep_per_layer(scores: list[torch.Tensor], ratio: float) -> list[torch.Tensor]:
    """Indices to keep in each layer after removing the `ratio` least important units across all layers.

    Scores are normalised per layer (L2) before the global ranking, as in Michel et al.; each layer keeps at
    least one unit, so no layer is cut off.
    """
    normalised = [s / s.norm().clamp(min=1e-12) for s in scores]
    ranked = sorted((value, layer, unit) for layer, s in enumerate(normalised) for unit, value in enumerate(s.tolist()))
    keep = [set(range(len(s))) for s in scores]
    to_remove = round(ratio * len(ranked))
    for _, layer, unit in ranked:
        if to_remove == 0:
            break
        if len(keep[layer]) > 1:
            keep[layer].discard(unit)
            to_remove -= 1
    return [torch.tensor(sorted(k), dtype=torch.long) for k in keep]


def sliced_linear(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    """A smaller copy of `linear` with only the `keep` outputs (dim 0) or inputs (dim 1)."""
    keep = keep.to(linear.weight.device)
    weight = linear.weight.detach().index_select(dim, keep)
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None,
                    device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:
            new.bias.copy_(linear.bias.detach() if dim == 1 else linear.bias.detach()[keep])
    return new


def slice_heads(layer: nn.Module, keep_heads: torch.Tensor) -> None:
    attn = layer.attention.self
    size = attn.attention_head_size
    rows = (keep_heads[:, None] * size + torch.arange(size, device=keep_heads.device)).flatten()
    attn.query = sliced_linear(attn.query, rows, 0)
    attn.key = sliced_linear(attn.key, rows, 0)
    attn.value = sliced_linear(attn.value, rows, 0)
    layer.attention.output.dense = sliced_linear(layer.attention.output.dense, rows, 1)
    # forward() reshapes by attention_head_size (kept) and infers the head count; these keep the module truthful
    attn.num_attention_heads = len(keep_heads)
    attn.all_head_size = len(rows)


def slice_neurons(layer: nn.Module, keep: torch.Tensor) -> None:
    layer.intermediate.dense = sliced_linear(layer.intermediate.dense, keep, 0)
    layer.output.dense = sliced_linear(layer.output.dense, keep, 1)


@hookimpl
def benchsuite_register_methods(register):
    register(StructuredPruning)
