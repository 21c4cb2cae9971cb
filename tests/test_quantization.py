"""torchao int8 (weight-only, dynamic activation) and fp16/bf16 casting, on tiny CNN and BERT models."""

import copy
import io

import pytest
import torch
from torch import nn

from benchsuite import Unsupported
from benchsuite.sdk.interfaces import MethodContext, TaskInfo
from benchsuite.measure.counts import count_flops, count_params, serialized_size_bytes
from benchsuite.sdk.memory import resident_tensor_bytes
from benchsuite_plugins.methods.reduced_precision import BFloat16, CastPrecision, Float16
from benchsuite_plugins.methods.torchao_int8 import Int8DynamicActivation, Int8WeightOnly

from conftest import small_images as stream, tiny_bert as make_tiny_bert

INFO = TaskInfo("t", "vision", "1", "accuracy", True, 3, 8)
INT8 = [Int8WeightOnly, Int8DynamicActivation]
#: largest |logit - fp32 logit| allowed, as a fraction of the largest |fp32 logit|
INT8_TOLERANCE = 0.05
HALF_TOLERANCE = {Float16: 0.005, BFloat16: 0.03}


def tiny_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 64), nn.ReLU(), nn.Linear(64, 3))
    model[1].running_mean.uniform_(-0.5, 0.5)  # non-trivial norm statistics, so casting them matters
    model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


def tiny_bert():
    return make_tiny_bert(vocab=100, max_positions=32)


def cnn_inputs():
    return (torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)),)


def bert_inputs():
    ids = torch.randint(0, 100, (4, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, 7:] = 0  # one padded row
    return ids, mask


def context():
    return MethodContext(task=INFO, teacher=tiny_cnn(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=0, train_stream=stream)


def relative_error(model, reference, inputs):
    with torch.inference_mode():
        out, ref = model(*inputs), reference(*inputs)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    return float((out - ref).abs().max() / ref.abs().max())


def linear_weight_bytes(model):
    return sum(m.weight.numel() * m.weight.element_size() for m in model.modules() if isinstance(m, nn.Linear))


@pytest.mark.parametrize("method", INT8)
def test_int8_quantizes_linear_weights_only_and_stays_close(method):
    model = method().apply(tiny_cnn(), context())
    for layer in (model[4], model[6]):
        weight = layer.weight
        assert type(weight).__name__ == "Int8Tensor" and weight.qdata.dtype == torch.int8
        assert weight.shape == (layer.out_features, layer.in_features)
    assert type(model[0].weight) is nn.Parameter and model[0].weight.dtype == torch.float32  # convs stay float
    assert relative_error(model, tiny_cnn(), cnn_inputs()) < INT8_TOLERANCE


@pytest.mark.parametrize("method", INT8)
def test_int8_shrinks_the_linear_part_about_four_times(method):
    reference = tiny_cnn()
    model = method().apply(tiny_cnn(), context())
    linear_fp32 = linear_weight_bytes(reference)
    linear_int8 = serialized_size_bytes(model) - (serialized_size_bytes(reference) - linear_fp32)
    assert 0.25 <= linear_int8 / linear_fp32 < 0.35  # int8 values, float32 scale per row, pickling overhead
    resident_int8 = resident_tensor_bytes(model) - (resident_tensor_bytes(reference) - linear_fp32)
    assert 0.25 <= resident_int8 / linear_fp32 < 0.3  # what peak_memory_bytes counts as the model's weights


@pytest.mark.parametrize("method", INT8)
def test_int8_keeps_counts_and_flops_and_survives_copy_and_save(method):
    reference = tiny_cnn()
    model = method().apply(tiny_cnn(), context())
    inputs = cnn_inputs()
    assert count_params(model)[0] == count_params(reference)[0]
    assert count_flops(model, inputs) == count_flops(reference, inputs)
    clone = copy.deepcopy(model)  # the runner deep-copies the compressed model before measuring it
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    loaded = method().apply(tiny_cnn(), context())
    loaded.load_state_dict(torch.load(buffer, weights_only=True), assign=True)
    with torch.inference_mode():
        assert torch.equal(clone(*inputs), model(*inputs)) and torch.equal(loaded(*inputs), model(*inputs))


@pytest.mark.parametrize("method", INT8)
def test_int8_per_tensor_granularity_has_one_scale_per_layer(method):
    model = method(granularity="tensor").apply(tiny_cnn(), context())
    assert model[4].weight.scale.numel() == 1
    assert relative_error(model, tiny_cnn(), cnn_inputs()) < INT8_TOLERANCE


@pytest.mark.parametrize("method", INT8)
def test_int8_runs_a_bert_classifier_on_token_ids(method):
    model = method().apply(tiny_bert(), context())
    assert type(model.encoder.encoder.layer[0].attention.self.query.weight).__name__ == "Int8Tensor"
    assert relative_error(model, tiny_bert(), bert_inputs()) < INT8_TOLERANCE


@pytest.mark.parametrize("method", INT8)
def test_int8_without_linear_layers_is_unsupported(method):
    with pytest.raises(Unsupported, match="has none"):
        method().apply(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval(), context())


@pytest.mark.parametrize("method", [Float16, BFloat16])
def test_reduced_precision_casts_weights_and_returns_float32_logits(method):
    model = method().apply(tiny_cnn(), context())
    assert isinstance(model, CastPrecision)
    assert {p.dtype for p in model.parameters()} == {method.dtype}
    assert model.model[1].running_var.dtype == method.dtype
    assert model.model[1].num_batches_tracked.dtype == torch.int64  # integer buffers are left alone
    assert relative_error(model, tiny_cnn(), cnn_inputs()) < HALF_TOLERANCE[method]


@pytest.mark.parametrize("method", [Float16, BFloat16])
def test_reduced_precision_halves_size_and_keeps_counts(method):
    reference = tiny_cnn()
    model = method().apply(tiny_cnn(), context())
    assert 0.45 < serialized_size_bytes(model) / serialized_size_bytes(reference) < 0.6
    assert count_params(model)[0] == count_params(reference)[0]
    assert count_flops(model, cnn_inputs()) == count_flops(reference, cnn_inputs())


@pytest.mark.parametrize("method", [Float16, BFloat16])
def test_reduced_precision_passes_token_ids_through_a_bert_classifier(method):
    model = method().apply(tiny_bert(), context())
    assert model.model.encoder.embeddings.word_embeddings.weight.dtype == method.dtype
    assert relative_error(model, tiny_bert(), bert_inputs()) < HALF_TOLERANCE[method]


def test_reduced_precision_without_float_parameters_is_unsupported():
    with pytest.raises(Unsupported, match="has none"):
        Float16().apply(nn.Sequential(nn.Flatten()).eval(), context())
