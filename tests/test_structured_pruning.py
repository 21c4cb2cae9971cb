import copy

import pytest
import torch
from torch import nn

import benchsuite
from benchsuite.errors import ParamError
from benchsuite.sdk.interfaces import BudgetExceeded, MethodContext, TaskInfo
from benchsuite.measure.counts import count_flops, count_params
from benchsuite_plugins.methods import structured_pruning
from benchsuite_plugins.methods.structured_pruning import (TAYLOR_BATCHES, StructuredPruning, head_magnitudes,
                                                           keep_per_layer, neuron_magnitudes)

from conftest import small_images as image_stream, tiny_bert as make_tiny_bert

VISION = TaskInfo("t", "vision", "1", "accuracy", True, 3, 8, finetune_lr=1e-2)
NLP = TaskInfo("t", "nlp", "1", "accuracy", True, 2, 8, finetune_lr=1e-3)
VOCAB, HEADS, HEAD_SIZE, FFN = 50, 4, 8, 64


def tiny_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


def tiny_bert():
    return make_tiny_bert(heads=HEADS, hidden=HEADS * HEAD_SIZE, ffn=FFN, vocab=VOCAB, max_positions=32)


def text_stream(batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    while True:
        ids = torch.randint(1, VOCAB, (batch_size, 10), generator=g)
        mask = torch.ones_like(ids)
        mask[: batch_size // 2, 7:] = 0  # some padding, as real batches have
        yield (ids * mask, mask), torch.randint(0, 2, (batch_size,), generator=g)


def cnn_context(budget=100):
    return MethodContext(task=VISION, teacher=tiny_cnn(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=budget, train_stream=image_stream)


def bert_context(budget=100):
    return MethodContext(task=NLP, teacher=tiny_bert(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=budget, train_stream=text_stream)


def sample(stream, n=6):
    return next(stream(n, 123))[0]


def layers(model):
    return list(model.encoder.encoder.layer)


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_cnn_loses_half_its_channels_but_keeps_its_classes(importance):
    x = sample(image_stream)
    before = tiny_cnn()
    model = StructuredPruning(ratio=0.5, importance=importance, finetune_steps=0).apply(tiny_cnn(), cnn_context())
    assert [model[0].out_channels, model[3].in_channels, model[3].out_channels] == [4, 4, 4]
    assert model[1].num_features == model[4].num_features == 4
    assert (model[7].in_features, model[7].out_features) == (4 * 8 * 8, 8)
    assert (model[9].in_features, model[9].out_features) == (8, 3)  # the classifier keeps every class
    assert model(*x).shape == (6, 3)
    # every coupled dimension halves: most weights and FLOPs (products of two halved widths) drop to about a quarter
    assert count_params(model)[0] / count_params(before)[0] == pytest.approx(0.26, abs=0.03)
    assert count_flops(model, x) / count_flops(before, x) == pytest.approx(0.27, abs=0.03)


def test_cnn_taylor_importance_and_finetuning_are_counted_against_the_budget():
    ctx = cnn_context()
    model = StructuredPruning(ratio=0.5, importance="taylor", finetune_steps=3).apply(tiny_cnn(), ctx)
    assert ctx.cost.finetune_steps == TAYLOR_BATCHES + 3
    assert not model.training
    assert all(p.grad is None or p.grad.shape == p.shape for p in model.parameters())


def test_ratio_zero_changes_no_shape():
    model = StructuredPruning(ratio=0.0, finetune_steps=0).apply(tiny_cnn(), cnn_context())
    assert count_params(model) == count_params(tiny_cnn())
    bert = StructuredPruning(ratio=0.0, finetune_steps=0).apply(tiny_bert(), bert_context())
    assert count_params(bert)[0] == count_params(tiny_bert())[0]


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_bert_loses_heads_and_ffn_neurons_and_still_runs(importance):
    x = sample(text_stream)
    before = tiny_bert()
    model = StructuredPruning(ratio=0.5, importance=importance, finetune_steps=0).apply(tiny_bert(), bert_context())
    heads = [layer.attention.self.num_attention_heads for layer in layers(model)]
    assert sum(heads) == HEADS and min(heads) >= 1  # half of 2 x 4 heads, ranked across layers
    for layer, n in zip(layers(model), heads):
        attn = layer.attention.self
        assert attn.query.out_features == attn.key.out_features == attn.value.out_features == n * HEAD_SIZE
        assert attn.all_head_size == layer.attention.output.dense.in_features == n * HEAD_SIZE
        assert layer.attention.output.dense.out_features == HEADS * HEAD_SIZE  # the residual width stays
        assert layer.intermediate.dense.out_features == layer.output.dense.in_features
    assert sum(layer.intermediate.dense.out_features for layer in layers(model)) == FFN
    assert model(*x).shape == (6, 2)
    # the embeddings are untouched; the encoder's weights and nearly all FLOPs halve
    encoder_params = [count_params(m.encoder.encoder)[0] for m in (model, before)]
    assert encoder_params[0] / encoder_params[1] == pytest.approx(0.5, abs=0.03)
    assert count_flops(model, x) / count_flops(before, x) == pytest.approx(0.5, abs=0.05)
    assert count_params(model)[0] < count_params(before)[0]


def test_bert_slicing_equals_masking_the_removed_heads_and_neurons():
    x = sample(text_stream)
    masked = tiny_bert()
    keep_heads = keep_per_layer([head_magnitudes(layer) for layer in layers(masked)], 0.5)
    keep_neurons = keep_per_layer([neuron_magnitudes(layer) for layer in layers(masked)], 0.5)
    with torch.no_grad():
        for layer, heads, neurons in zip(layers(masked), keep_heads, keep_neurons):
            head_of_column = torch.arange(HEADS * HEAD_SIZE) // HEAD_SIZE
            layer.attention.output.dense.weight[:, ~torch.isin(head_of_column, heads)] = 0
            layer.output.dense.weight[:, ~torch.isin(torch.arange(FFN), neurons)] = 0
    pruned = StructuredPruning(ratio=0.5, importance="magnitude", finetune_steps=0).apply(tiny_bert(), bert_context())
    with torch.no_grad():
        assert torch.allclose(pruned(*x), masked(*x), atol=1e-5)


def test_bert_keeps_one_head_per_layer_at_the_highest_ratio():
    model = StructuredPruning(ratio=0.9, finetune_steps=0).apply(tiny_bert(), bert_context())
    assert [layer.attention.self.num_attention_heads for layer in layers(model)] == [1, 1]
    assert model(*sample(text_stream)).shape == (6, 2)


def test_bert_finetuning_is_counted_and_leaves_the_teacher_alone():
    ctx = bert_context()
    teacher_state = copy.deepcopy(ctx.teacher.state_dict())
    model = StructuredPruning(ratio=0.5, importance="taylor", finetune_steps=3).apply(tiny_bert(), ctx)
    assert ctx.cost.finetune_steps == TAYLOR_BATCHES + 3
    assert all(torch.equal(v, ctx.teacher.state_dict()[k]) for k, v in teacher_state.items())
    assert all(p.requires_grad for p in model.parameters())
    assert not model.training


def test_over_budget_fails():
    # the Taylor importance's gradient batches come out of the same budget, and are asked for first
    with pytest.raises(BudgetExceeded, match=f"{TAYLOR_BATCHES} fine-tune steps asked, 5 left of the budget of 5"):
        StructuredPruning(ratio=0.5, finetune_steps=10).apply(tiny_cnn(), cnn_context(budget=5))


@pytest.mark.parametrize("params", [{"ratio": 0.95}, {"ratio": -0.1}, {"importance": "random"},
                                    {"finetune_steps": -1}])
def test_bad_parameters_fail_on_construction(params):
    with pytest.raises(ParamError, match="'structured-pruning'"):
        StructuredPruning(**params)


def test_models_without_prunable_structure_are_unsupported():
    torch.manual_seed(0)
    bag_of_words = nn.Sequential(nn.EmbeddingBag(VOCAB, 16), nn.Linear(16, 3)).eval()
    with pytest.raises(benchsuite.Unsupported, match="EmbeddingBag"):
        StructuredPruning().apply(bag_of_words, cnn_context())


def test_registers_through_the_hook():
    registered = []
    structured_pruning.benchsuite_register_methods(registered.append)
    assert registered == [StructuredPruning]
    assert StructuredPruning.standard_configs == ({"ratio": 0.5},)
