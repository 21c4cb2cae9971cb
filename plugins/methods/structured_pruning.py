"""structured-pruning: remove whole conv channels, attention heads and FFN neurons, so the model really shrinks.

CNNs (Conv2d/BatchNorm/Linear layers) lose output channels through torch-pruning's dependency graph, which
keeps every coupled layer consistent; the final classifier keeps its outputs. Models that contain a BERT-style
encoder lose attention heads and FFN intermediate neurons ("Are Sixteen Heads Really Better than One?",
Michel et al. 2019): the q/k/v/output projections and the FFN matrices are sliced to the kept rows and columns.
Llama-layout decoders (grouped-query attention, gated FFN) lose whole key/value groups and query heads evenly
within the kept groups, and gated FFN neurons, the same number in every layer, so that the model's config still
describes it (a KV cache sized from it, a saved copy reloaded). The pruned model is then fine-tuned with
cross-entropy, per token for a language model (distillation from the teacher measured no better).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from benchsuite import CompressionMethod, Param, Unsupported, hookimpl
from benchsuite.sdk.training import train

from .language_models import cross_entropy, training_loss

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
        ratio, importance = self.params["ratio"], self.params["importance"]
        decoders, encoders = llama_decoders(model), bert_encoders(model)
        if decoders:
            for decoder in decoders:
                prune_decoder(model, decoder, ratio, importance, context)
        elif encoders:
            prune_transformer(model, encoders, ratio, importance, context)
        else:
            prune_cnn(model, ratio, importance, context)
        steps = self.params["finetune_steps"]
        if steps:
            train(model, context.training_batches(steps), steps, self.params["lr"] or context.task.finetune_lr,
                  loss_fn=training_loss, freeze_batchnorm=context.task.freeze_batchnorm)
        return model.eval()


# --- CNNs: channel pruning through torch-pruning's dependency graph -------------------------------------------


def prune_cnn(model: nn.Module, ratio: float, importance: str, context) -> None:
    """Remove `ratio` of the output channels of every conv/linear layer except the final classifier, in place."""
    for module in model.modules():
        if not isinstance(module, CNN_LAYERS) and any(True for _ in module.parameters(recurse=False)):
            raise Unsupported(f"structured-pruning prunes CNNs (Conv/BatchNorm/Linear layers), BERT encoders and "
                              f"Llama-layout decoders; this model has a {type(module).__name__}")
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
        gates = []
        for layer in layers:
            size = layer.attention.self.attention_head_size
            gates += [(layer.attention.output.dense, layer.attention.self.query.out_features // size, size),
                      (layer.output.dense, layer.intermediate.dense.out_features, 1)]
        scores = taylor_scores(model, gates, context.training_batches(TAYLOR_BATCHES))
        head_scores, neuron_scores = scores[0::2], scores[1::2]
    else:
        head_scores = [head_magnitudes(layer) for layer in layers]
        neuron_scores = [neuron_magnitudes(layer) for layer in layers]
    for layer, heads, neurons in zip(layers, keep_per_layer(head_scores, ratio), keep_per_layer(neuron_scores, ratio)):
        slice_heads(layer, heads)
        slice_neurons(layer, neurons)


def block_squares(weight: torch.Tensor, blocks: int, dim: int = 0) -> torch.Tensor:
    """The sum of squares of each of `blocks` equal runs of consecutive rows (`dim` 0) or columns (`dim` 1) of
    `weight`: one head's rows of a query projection, one neuron's column of an FFN output matrix."""
    weight = weight.detach()
    return (weight if dim == 0 else weight.T).reshape(blocks, -1).pow(2).sum(1)


def head_magnitudes(layer: nn.Module) -> torch.Tensor:
    """L2 norm of each head's weights: its rows of query, key and value and its columns of the output projection."""
    attn = layer.attention.self
    heads = attn.query.out_features // attn.attention_head_size
    squares = sum(block_squares(m.weight, heads) for m in (attn.query, attn.key, attn.value))
    return (squares + block_squares(layer.attention.output.dense.weight, heads, 1)).sqrt()


def neuron_magnitudes(layer: nn.Module) -> torch.Tensor:
    """L2 norm of each FFN neuron's weights: its row of the intermediate and its column of the output matrix."""
    neurons = layer.intermediate.dense.out_features
    return (block_squares(layer.intermediate.dense.weight, neurons)
            + block_squares(layer.output.dense.weight, neurons, 1)).sqrt()


def taylor_scores(model: nn.Module, gates: list[tuple[nn.Module, int, int]],
                  batches: Iterable[tuple]) -> list[torch.Tensor]:
    """|d loss / d mask| of a mask of ones on the units entering each gated module, summed over the batches.

    A gate ``(module, units, width)`` scales the module's input, `units` runs of `width` features (the heads entering
    an attention output projection, the neurons entering an FFN output matrix), each by one entry of its mask. The
    score is the first-order estimate of the loss change when the unit is removed (Michel et al. 2019); one tensor of
    `units` scores per gate, in order.
    """
    masks, handles = [], []

    def scale(mask: torch.Tensor, width: int):
        def hook(_module: nn.Module, args: tuple) -> tuple:
            return (args[0] * mask.repeat_interleave(width), *args[1:])
        return hook

    for module, units, width in gates:
        mask = torch.ones(units, device=module.weight.device, requires_grad=True)
        handles.append(module.register_forward_pre_hook(scale(mask, width)))
        masks.append(mask)
    scores = [torch.zeros_like(m) for m in masks]
    was_trainable = [p.requires_grad for p in model.parameters()]
    model.eval()  # no dropout: the scores describe the model as it will run
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for inputs, labels in batches:
            for score, grad in zip(scores, torch.autograd.grad(cross_entropy(model(*inputs), labels), masks)):
                score += grad.abs()
    finally:
        for h in handles:
            h.remove()
        for p, trainable in zip(model.parameters(), was_trainable):
            p.requires_grad_(trainable)
    return scores


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


def head_rows(heads: torch.Tensor, size: int) -> torch.Tensor:
    """The rows of a projection that hold `heads` of `size` features each."""
    return (heads[:, None] * size + torch.arange(size, device=heads.device)).flatten()


def slice_heads(layer: nn.Module, keep_heads: torch.Tensor) -> None:
    attn = layer.attention.self
    size = attn.attention_head_size
    rows = head_rows(keep_heads, size)
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


# --- Llama-layout decoders: grouped-query attention heads and gated FFN neurons -------------------------------


def llama_decoders(model: nn.Module) -> list[nn.Module]:
    """Submodules shaped like a Hugging Face LlamaModel (Mistral, Qwen2 and their kin too): a ``config`` and
    ``layers[i]`` with ``self_attn.q_proj/k_proj/v_proj/o_proj`` and ``mlp.gate_proj/up_proj/down_proj``."""
    found = []
    for module in model.modules():
        layers = getattr(module, "layers", None)
        if (isinstance(layers, nn.ModuleList) and layers and hasattr(module, "config")
                and all(_is_llama_layer(layer) for layer in layers)):
            found.append(module)
    return found


def _is_llama_layer(layer: nn.Module) -> bool:
    try:
        attn, mlp = layer.self_attn, layer.mlp
        linears = (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj)
        return (all(isinstance(m, nn.Linear) for m in linears) and isinstance(attn.head_dim, int)
                and isinstance(attn.num_key_value_groups, int))
    except AttributeError:
        return False


def head_plan(groups: int, per_group: int, ratio: float) -> tuple[int, int]:
    """How many key/value groups to keep and how many query heads in each, so that the kept heads come closest to
    ``(1 - ratio)`` of ``groups * per_group``; a tie keeps more groups (each carries keys and values that all its
    query heads read). At least one of each."""
    target = (1 - ratio) * groups * per_group
    plans = ((g, q) for g in range(1, groups + 1) for q in range(1, per_group + 1))
    return min(plans, key=lambda plan: (abs(plan[0] * plan[1] - target), -plan[0]))


def query_head_magnitudes(layer: nn.Module) -> torch.Tensor:
    """L2 norm of each query head's weights: its rows of q_proj and columns of o_proj, and the rows of k_proj and
    v_proj of the key/value head its group shares."""
    attn = layer.self_attn
    heads, groups = attn.q_proj.out_features // attn.head_dim, attn.k_proj.out_features // attn.head_dim
    shared = sum(block_squares(m.weight, groups) for m in (attn.k_proj, attn.v_proj))
    squares = block_squares(attn.q_proj.weight, heads) + block_squares(attn.o_proj.weight, heads, 1)
    return (squares + shared.repeat_interleave(heads // groups)).sqrt()


def gated_neuron_magnitudes(layer: nn.Module) -> torch.Tensor:
    """L2 norm of each gated FFN neuron's weights: its rows of gate_proj and up_proj and its column of down_proj."""
    mlp = layer.mlp
    neurons = mlp.down_proj.in_features
    squares = sum(block_squares(m.weight, neurons) for m in (mlp.gate_proj, mlp.up_proj))
    return (squares + block_squares(mlp.down_proj.weight, neurons, 1)).sqrt()


def kept_heads(scores: torch.Tensor, per_group: int, groups: int, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `groups` key/value groups with the highest summed query-head scores and, in each, its `heads` best query
    heads: ``(kept groups, kept query heads)``, both ascending, so that kept query head j reads kept group j // heads."""
    by_group = scores.reshape(-1, per_group)
    kept_groups = by_group.sum(1).topk(groups).indices.sort().values
    kept_queries = [g * per_group + by_group[g].topk(heads).indices.sort().values for g in kept_groups]
    return kept_groups, torch.cat(kept_queries)


def slice_query_groups(attn: nn.Module, groups: torch.Tensor, heads: torch.Tensor) -> None:
    """Keep key/value heads `groups` and query heads `heads` of a LlamaAttention, with the bookkeeping its forward
    reads (it infers the head counts from the projections' widths)."""
    size = attn.head_dim
    attn.q_proj = sliced_linear(attn.q_proj, head_rows(heads, size), 0)
    attn.k_proj = sliced_linear(attn.k_proj, head_rows(groups, size), 0)
    attn.v_proj = sliced_linear(attn.v_proj, head_rows(groups, size), 0)
    attn.o_proj = sliced_linear(attn.o_proj, head_rows(heads, size), 1)
    attn.num_key_value_groups = len(heads) // len(groups)  # repeat_kv: query heads per key/value head


def slice_gated_neurons(mlp: nn.Module, keep: torch.Tensor) -> None:
    mlp.gate_proj = sliced_linear(mlp.gate_proj, keep, 0)
    mlp.up_proj = sliced_linear(mlp.up_proj, keep, 0)
    mlp.down_proj = sliced_linear(mlp.down_proj, keep, 1)
    mlp.intermediate_size = len(keep)


def prune_decoder(model: nn.Module, decoder: nn.Module, ratio: float, importance: str, context) -> None:
    """Remove `ratio` of the attention heads and of the FFN neurons of every layer of a Llama-layout decoder.

    Every layer keeps the same number of key/value groups, of query heads per group (`head_plan`) and of FFN
    neurons, the most important ones of that layer, so that the config's head counts and FFN width stay true.
    """
    if ratio == 0:
        return
    layers = list(decoder.layers)
    first = layers[0].self_attn
    size, per_group = first.head_dim, first.num_key_value_groups
    groups, neurons = first.k_proj.out_features // size, layers[0].mlp.down_proj.in_features
    keep_groups, keep_per_group = head_plan(groups, per_group, ratio)
    keep_neurons = max(1, round((1 - ratio) * neurons))
    if importance == "taylor":
        gates = []
        for layer in layers:
            gates += [(layer.self_attn.o_proj, groups * per_group, size), (layer.mlp.down_proj, neurons, 1)]
        scores = taylor_scores(model, gates, context.training_batches(TAYLOR_BATCHES))
        head_scores, neuron_scores = scores[0::2], scores[1::2]
    else:
        head_scores = [query_head_magnitudes(layer) for layer in layers]
        neuron_scores = [gated_neuron_magnitudes(layer) for layer in layers]
    for layer, heads, units in zip(layers, head_scores, neuron_scores):
        slice_query_groups(layer.self_attn, *kept_heads(heads, per_group, keep_groups, keep_per_group))
        slice_gated_neurons(layer.mlp, units.topk(keep_neurons).indices.sort().values)
    config = decoder.config
    config.head_dim = size  # else derived from hidden_size / num_attention_heads, which no longer gives it
    config.num_attention_heads = keep_groups * keep_per_group
    config.num_key_value_heads = keep_groups
    config.intermediate_size = keep_neurons


@hookimpl
def benchsuite_register_methods(register):
    register(StructuredPruning)
