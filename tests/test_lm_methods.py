"""Every built-in method on a language model (modality causal-lm): it runs on a tiny Llama and keeps both calls of
the model contract, generation with the KV cache included, or it is skipped with a reason that says what is missing."""

import copy

import pytest
import torch
from torch import nn

from benchsuite.sdk.interfaces import Generation, MethodContext, TaskInfo
from benchsuite_plugins.methods.dynamic_int8 import DynamicInt8
from benchsuite_plugins.methods.language_models import cross_entropy
from benchsuite_plugins.methods.low_rank import LowRank
from benchsuite_plugins.methods.magnitude_pruning import MagnitudePruning, prunable_weights
from benchsuite_plugins.methods.reduced_precision import BFloat16, Float16
from benchsuite_plugins.methods.structured_pruning import (StructuredPruning, gated_neuron_magnitudes, head_plan,
                                                           kept_heads, query_head_magnitudes)
from benchsuite_plugins.methods.torchao_int8 import Int8DynamicActivation, Int8WeightOnly
from benchsuite_plugins.tasks.causal_lm import CausalLM

from conftest import tiny_llama as make_tiny_llama

VOCAB, HIDDEN, HEADS, KV_HEADS, FFN, WINDOW = 100, 64, 4, 2, 128, 12
LM = TaskInfo("t", "causal-lm", "1", "perplexity", False, VOCAB, 4, finetune_lr=1e-3,
              generation=Generation(prompt_tokens=6, new_tokens=5))
#: the methods that run on language models; every other built-in method skips them
RUNS = {"baseline", "dynamic-int8", "int8-weight-only", "int8-dynamic-activation", "fp16", "bf16", "magnitude-pruning",
        "low-rank", "structured-pruning"}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_llama():
    """A tiny Llama (2 layers, 4 query heads sharing 2 key/value heads) with tied embeddings, as SmolLM2 has, and a
    wide initialisation, so that next-token logits differ clearly and greedy decoding has few near-ties."""
    return make_tiny_llama(hidden=HIDDEN, heads=HEADS, kv_heads=KV_HEADS, ffn=FFN, vocab=VOCAB, max_positions=64,
                           tie_word_embeddings=True, initializer_range=0.2)


def token_windows(batch_size, seed):
    """Training windows as an LM task streams them: ``((input_ids,), next-token ids)``, the last one not scored."""
    g = torch.Generator().manual_seed(seed)
    while True:
        ids = torch.randint(0, VOCAB, (batch_size, WINDOW + 1), generator=g)
        labels = ids[:, 1:].clone()
        labels[:, -1] = -100
        yield (ids[:, :-1],), labels


def context(budget=100):
    return MethodContext(task=LM, teacher=tiny_llama(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=budget, train_stream=token_windows, batch_size=4)


def prompt():
    return next(token_windows(2, 99))[0][0][:, :6]


def decoder_layers(model):
    return list(model.lm.model.layers)


def greedy_with_cache(model, ids, steps=5):
    """Greedy decoding through ``model(input_ids, cache)``: the tokens and the logits that chose each new one."""
    cache, step, chosen_by = model.new_cache(), ids, []
    for _ in range(steps):
        logits = model(step, cache)
        assert logits.shape == (len(ids), 1, VOCAB) and torch.isfinite(logits).all()  # the last position's
        chosen_by.append(logits[:, -1].float())
        step = chosen_by[-1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, step], 1)
    return ids, torch.stack(chosen_by, 1)


def assert_generates_as_without_cache(model, tolerance):
    """Both calls give finite logits of the right shape, and decoding with the cache agrees with recomputing the
    whole sequence at every step: its logits within `tolerance` of the logits' range, each token an argmax of the
    recomputed logits up to ties within that tolerance."""
    ids = prompt()
    with torch.no_grad():
        generated, cached = greedy_with_cache(model, ids)
        full = model(generated[:, :-1]).float()
    assert full.shape == (2, generated.shape[1] - 1, VOCAB) and torch.isfinite(full).all()
    recomputed = full[:, ids.shape[1] - 1:]  # the logits that chose each new token, without the cache
    slack = tolerance * float(full.abs().max())
    assert torch.allclose(cached, recomputed, atol=slack)
    picked = recomputed.gather(-1, generated[:, ids.shape[1]:, None]).squeeze(-1)
    assert (picked >= recomputed.max(-1).values - 2 * slack).all()


def int8_weights(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear) and type(m.weight).__name__ == "Int8Tensor"]


# Each method that runs: a fast configuration (fine-tuning kept, a couple of steps, so that the language-model loss
# runs) and the cached path's tolerance, as a share of the logits' range. Float32 methods agree to rounding;
# bfloat16 keeps 8 bits; int8 activations are quantized per call, and dynamic-int8's one scale per tensor differs
# for a token alone and for the whole sequence: its cached logits move by as much as quantizing moves them from
# float32 (up to 0.22 of the range on this widely initialised model, in both paths).
RUNNING = {
    "baseline": (None, 1e-4),
    "dynamic-int8": (DynamicInt8, 0.25),
    "int8-weight-only": (Int8WeightOnly, 1e-3),
    "int8-dynamic-activation": (Int8DynamicActivation, 0.05),
    "fp16": (Float16, 0.01),
    "bf16": (BFloat16, 0.05),
    "magnitude-pruning": (lambda: MagnitudePruning(sparsity=0.5, finetune_steps=2), 1e-4),
    "low-rank": (lambda: LowRank(rank_ratio=0.25, finetune_steps=2), 1e-4),
    "structured-pruning": (lambda: StructuredPruning(ratio=0.5, finetune_steps=2), 1e-4),
}


@pytest.mark.parametrize("name", sorted(RUNNING))
def test_a_compressed_language_model_keeps_both_calls_and_generates_as_without_cache(name):
    method, tolerance = RUNNING[name]
    model = tiny_llama() if method is None else method().apply(tiny_llama(), context())
    assert hasattr(model, "new_cache")
    assert_generates_as_without_cache(model, tolerance)
    assert_generates_as_without_cache(copy.deepcopy(model), tolerance)  # the runner measures a deep copy


def test_every_builtin_method_runs_on_a_language_model_or_names_what_it_lacks(all_plugins):
    builtin = {e.name: e.obj for e in all_plugins.methods if all_plugins.infos[e.plugin].source == "builtin"}
    reasons = {name: cls().supports(LM) for name, cls in builtin.items()}
    assert {name for name, reason in reasons.items() if reason is None} == RUNS == set(RUNNING)
    assert "classifier" in reasons["early-exit"] and "KV cache" in reasons["early-exit"]
    assert "onnxruntime backend" in reasons["ort-int8"] and "KV cache" in reasons["ort-int8"]
    for name in ("static-int8", "qat-int8"):
        assert reasons[name].startswith(f"{name} exports one forward pass") and "takes no KV cache" in reasons[name]
    assert "causal-lm" in reasons["distillation"] and "student" in reasons["distillation"]
    vision = TaskInfo("t", "vision", "1", "accuracy", True, 3, 8)
    assert all(cls().supports(vision) is None for cls in builtin.values())  # classifiers are unaffected


def test_the_loss_scores_next_tokens_and_skips_unscored_positions():
    logits, labels = torch.randn(2, 5, VOCAB), torch.randint(0, VOCAB, (2, 5))
    labels[0, 3:] = -100
    scored = labels != -100
    expected = nn.functional.cross_entropy(logits[scored], labels[scored])
    assert torch.allclose(cross_entropy(logits, labels), expected)
    classes, targets = torch.randn(4, 3), torch.tensor([0, 2, 1, 0])
    assert torch.equal(cross_entropy(classes, targets), nn.functional.cross_entropy(classes, targets))


def test_dynamic_int8_quantizes_every_linear_of_the_llama():
    model = DynamicInt8().apply(tiny_llama(), context())
    quantized = torch.ao.nn.quantized.dynamic.Linear
    layer = decoder_layers(model)[0]
    assert all(isinstance(m, quantized) for m in (layer.self_attn.q_proj, layer.mlp.down_proj, model.lm.lm_head))


@pytest.mark.parametrize("method", [Int8WeightOnly, Int8DynamicActivation])
def test_torchao_int8_quantizes_the_llama_linear_layers(method):
    model = method().apply(tiny_llama(), context())
    assert len(int8_weights(model)) == 2 * 7 + 1  # q, k, v, o, gate, up, down per layer, and the output layer
    assert model.lm.model.embed_tokens.weight.dtype == torch.float32


@pytest.mark.parametrize("method,dtype", [(Float16, torch.float16), (BFloat16, torch.bfloat16)])
def test_reduced_precision_casts_the_llama_but_keeps_rotary_frequencies_in_float32(method, dtype):
    model = method().apply(tiny_llama(), context())
    assert {p.dtype for p in model.parameters()} == {dtype}
    rotary = model.model.lm.model.rotary_emb
    assert rotary.inv_freq.dtype == torch.float32
    assert torch.equal(rotary.inv_freq, tiny_llama().lm.model.rotary_emb.inv_freq)
    with torch.no_grad():
        assert model(prompt()).dtype == torch.float32


def test_magnitude_pruning_sparsifies_the_llama_and_keeps_the_tied_output_layer_dense():
    ctx = context()
    model = MagnitudePruning(sparsity=0.5, finetune_steps=2).apply(tiny_llama(), ctx)
    assert ctx.cost.finetune_steps == 2
    weights = [m.weight for m, _ in prunable_weights(model, VOCAB)]
    assert len(weights) == 2 * 7  # the projections; not the output layer nor the embedding it shares
    assert sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights) == pytest.approx(0.5, abs=1e-3)
    assert model.lm.lm_head.weight is model.lm.model.embed_tokens.weight
    assert float((model.lm.lm_head.weight == 0).float().mean()) == 0


def test_magnitude_pruning_of_the_output_layer_prunes_the_tied_tensor_once():
    model = MagnitudePruning(sparsity=0.5, finetune_steps=0, prune_output=True).apply(tiny_llama(), context())
    assert len(prunable_weights(model)) == 2 * 7 + 1
    assert model.lm.lm_head.weight is model.lm.model.embed_tokens.weight  # still one tensor, pruned
    assert float((model.lm.lm_head.weight == 0).float().mean()) > 0.1


def test_low_rank_factorizes_the_projections_but_not_the_tied_output_layer():
    model = LowRank(rank_ratio=0.25, finetune_steps=0).apply(tiny_llama(), context())
    layer = decoder_layers(model)[0]
    assert isinstance(layer.self_attn.q_proj, nn.Sequential) and layer.self_attn.q_proj[0].out_features == 16
    assert isinstance(layer.mlp.gate_proj, nn.Sequential) and layer.mlp.gate_proj[0].out_features == 16
    assert isinstance(model.lm.lm_head, nn.Linear)  # factorizing it would add weights: the embedding keeps the tensor
    assert model.lm.lm_head.weight is model.lm.model.embed_tokens.weight


@pytest.mark.parametrize("layout,ratio,plan", [
    ((2, 2), 0.5, (2, 1)),  # a tie: two groups of one query head rather than one group of two
    ((2, 2), 0.75, (1, 1)),
    ((3, 3), 0.5, (2, 2)),  # SmolLM2-135M: 9 query heads in 3 groups keep 4 in 2
    ((3, 3), 0.3, (3, 2)),
    ((3, 3), 0.0, (3, 3)),
    ((3, 3), 0.9, (1, 1)),
])
def test_the_head_plan_comes_closest_to_the_ratio_and_keeps_whole_groups(layout, ratio, plan):
    assert head_plan(*layout, ratio) == plan


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_structured_pruning_removes_query_heads_within_groups_and_ffn_neurons_of_the_llama(importance):
    ctx = context()
    model = StructuredPruning(ratio=0.5, importance=importance, finetune_steps=2).apply(tiny_llama(), ctx)
    assert ctx.cost.finetune_steps == 2 + (8 if importance == "taylor" else 0)
    size = HIDDEN // HEADS
    for layer in decoder_layers(model):
        attn, mlp = layer.self_attn, layer.mlp
        assert (attn.q_proj.out_features, attn.k_proj.out_features, attn.v_proj.out_features) == (2 * size,) * 3
        assert (attn.o_proj.in_features, attn.o_proj.out_features) == (2 * size, HIDDEN)
        assert attn.num_key_value_groups == 1 and attn.head_dim == size
        assert mlp.gate_proj.out_features == mlp.up_proj.out_features == mlp.down_proj.in_features == FFN // 2
    config = model.config
    assert (config.num_attention_heads, config.num_key_value_heads, config.intermediate_size) == (2, 2, FFN // 2)
    assert config.head_dim == size


def test_structured_pruning_removes_whole_key_value_groups_when_the_ratio_asks():
    model = StructuredPruning(ratio=0.75, importance="magnitude", finetune_steps=0).apply(tiny_llama(), context())
    attn = decoder_layers(model)[0].self_attn
    assert (attn.q_proj.out_features, attn.k_proj.out_features, attn.num_key_value_groups) == (16, 16, 1)
    assert (model.config.num_attention_heads, model.config.num_key_value_heads) == (1, 1)
    assert_generates_as_without_cache(model, 1e-4)


@pytest.mark.parametrize("ratio", [0.5, 0.75])
def test_llama_slicing_equals_masking_the_removed_heads_and_neurons(ratio):
    """Zeroing the output-projection columns of the removed query heads (all of a removed group's) and the
    down-projection columns of the removed neurons gives the pruned model's logits: the kept query heads still
    read their own key/value heads."""
    pruned = StructuredPruning(ratio=ratio, importance="magnitude", finetune_steps=0).apply(tiny_llama(), context())
    masked = tiny_llama()
    groups, per_group = head_plan(KV_HEADS, HEADS // KV_HEADS, ratio)
    size = HIDDEN // HEADS
    with torch.no_grad():
        for layer in decoder_layers(masked):
            _, heads = kept_heads(query_head_magnitudes(layer), HEADS // KV_HEADS, groups, per_group)
            neurons = gated_neuron_magnitudes(layer).topk(round((1 - ratio) * FFN)).indices
            head_of_column = torch.arange(HEADS * size) // size
            layer.self_attn.o_proj.weight[:, ~torch.isin(head_of_column, heads)] = 0
            layer.mlp.down_proj.weight[:, ~torch.isin(torch.arange(FFN), neurons)] = 0
        assert torch.allclose(pruned(prompt()), masked(prompt()), atol=1e-4)


def test_a_pruned_llama_is_rebuilt_from_its_config():
    """The config tells the pruned shapes: transformers builds the same model from it (a saved copy reloads)."""
    pruned = StructuredPruning(ratio=0.5, finetune_steps=0).apply(tiny_llama(), context())
    rebuilt = CausalLM(type(pruned.lm)(pruned.config)).eval()
    rebuilt.load_state_dict(pruned.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(prompt()), pruned(prompt()))
