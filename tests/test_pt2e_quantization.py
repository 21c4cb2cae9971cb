"""static-int8 and qat-int8 (PT2E through torchao) on a tiny conv net and a tiny BERT classifier.

Each method is applied once per model (module-scoped fixtures): export and conversion dominate the time.
"""

import pytest
import torch
from torch import nn

from benchsuite.errors import ParamError, Unsupported
from benchsuite.sdk.interfaces import BudgetExceeded, MethodContext, TaskInfo

pytest.importorskip("torchao")

from benchsuite_plugins.methods.pt2e import (ExportedModel, export_graph, qdq_op_counts,  # noqa: E402
                                             set_graph_training)
from benchsuite_plugins.methods.qat_int8 import QatInt8  # noqa: E402
from benchsuite_plugins.methods.static_int8 import StaticInt8  # noqa: E402

from conftest import small_images as image_stream, tiny_bert as make_tiny_bert  # noqa: E402

VOCAB = 50


def tiny_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 3)).eval()


def tiny_bert():
    return make_tiny_bert(vocab=VOCAB)


def text_stream(batch_size, seed):
    """Token batches of varying length, right-padded in some rows, as the sentiment task makes them."""
    g = torch.Generator().manual_seed(seed)
    while True:
        length = int(torch.randint(4, 24, (1,), generator=g))
        ids = torch.randint(1, VOCAB, (batch_size, length), generator=g)
        mask = torch.ones_like(ids)
        real = torch.randint(2, length + 1, (batch_size,), generator=g)
        for row, n in enumerate(real.tolist()):
            ids[row, n:], mask[row, n:] = 0, 0
        yield (ids, mask), torch.randint(0, 2, (batch_size,), generator=g)


MODELS = {"cnn": (tiny_cnn, image_stream, "vision", 3), "bert": (tiny_bert, text_stream, "nlp", 2)}


def context(kind, budget=100):
    make, stream, modality, classes = MODELS[kind]
    info = TaskInfo("t", modality, "1", "accuracy", True, classes, 8, finetune_lr=1e-3)
    return MethodContext(task=info, teacher=make(), seed=0, device=torch.device("cpu"),
                         finetune_budget_steps=budget, train_stream=stream)


def apply(method, kind):
    ctx = context(kind)
    return method.apply(MODELS[kind][0](), ctx), ctx


@pytest.fixture(scope="module")
def static_cnn():
    return apply(StaticInt8(calibration_samples=48), "cnn")


@pytest.fixture(scope="module")
def static_bert():
    return apply(StaticInt8(calibration_samples=48), "bert")


@pytest.fixture(scope="module")
def qat_bert():
    # a learning rate small enough that the trained model stays comparable with the float one
    return apply(QatInt8(finetune_steps=4, lr=1e-6), "bert")


def held_out(kind, batch_size=64):
    inputs, _ = next(MODELS[kind][1](batch_size, seed=1234))
    return inputs


def assert_close_to_float(kind, quantized):
    assert_close_to_float_model(MODELS[kind][0](), kind, quantized)


def assert_close_to_float_model(float_model, kind, quantized):
    inputs = held_out(kind)
    with torch.no_grad():
        expected, got = float_model(*inputs), quantized(*inputs)
    agreement = float((expected.argmax(-1) == got.argmax(-1)).float().mean())
    # int8 with per-channel weights: logits within 10% of the float logits' range, and the same top class
    # for nearly all inputs (ties between near-equal random logits may flip)
    assert agreement >= 0.9
    assert float((expected - got).abs().max()) <= 0.1 * float(expected.abs().max())


@pytest.mark.parametrize("kind", ["cnn", "bert"])
def test_static_int8_graph_has_int8_weights_and_activations(kind, request):
    model, _ = request.getfixturevalue(f"static_{kind}")
    counts = qdq_op_counts(model)
    linears = sum(isinstance(m, (nn.Linear, nn.Conv2d)) for m in MODELS[kind][0]().modules())
    assert counts["dequantize_per_channel"] == linears  # every conv and linear weight is int8
    assert counts["quantize_per_tensor"] > 0 and counts["dequantize_per_tensor"] > 0  # and their inputs
    assert not any("batch_norm" in str(n.target) for n in model.graph.graph.nodes)  # folded into the conv
    state = model.graph.state_dict()
    assert sum(t.dtype == torch.int8 for t in state.values()) == linears
    float_weights = {f"{name}.weight" for name, m in MODELS[kind][0]().named_modules()
                     if isinstance(m, (nn.Linear, nn.Conv2d))}
    assert not float_weights & set(state)  # conversion's float leftovers were dropped
    # the int8 weight constants are the model's parameters: counted as such, not lost with their Parameters
    from benchsuite.measure.counts import count_params

    float_total = sum(p.numel() for p in MODELS[kind][0]().parameters())
    assert count_params(model)[0] == pytest.approx(float_total, rel=0.05)


@pytest.mark.parametrize("kind", ["cnn", "bert"])
def test_static_int8_stays_close_to_float_and_counts_calibration(kind, request):
    model, ctx = request.getfixturevalue(f"static_{kind}")
    assert isinstance(model, ExportedModel) and not model.training
    assert_close_to_float(kind, model)
    assert ctx.cost.calibration_samples == 48 and ctx.cost.finetune_steps == 0


@pytest.mark.parametrize("kind", ["cnn", "bert"])
def test_static_int8_runs_any_batch_size(kind, request):
    model, _ = request.getfixturevalue(f"static_{kind}")
    inputs = held_out(kind, batch_size=5)
    with torch.no_grad():
        assert model(*inputs).shape == (5, MODELS[kind][3])
        assert model(*(t[:1] for t in inputs)).shape == (1, MODELS[kind][3])


def test_static_int8_runs_other_sequence_lengths(static_bert):
    model, _ = static_bert
    ids, mask = held_out("bert", batch_size=3)
    longer = (torch.cat([ids, ids], dim=1), torch.cat([mask, mask], dim=1))
    with torch.no_grad():
        assert model(*longer).shape == (3, 2)
        assert model(ids[:, :2], mask[:, :2]).shape == (3, 2)


def test_qat_int8_counts_steps_stays_close_and_runs_any_shape(qat_bert):
    model, ctx = qat_bert
    assert ctx.cost.finetune_steps == 4 and ctx.cost.calibration_samples == 0
    assert qdq_op_counts(model)["dequantize_per_channel"] == 13  # 12 encoder linears and the head
    assert_close_to_float("bert", model)
    ids, mask = held_out("bert", batch_size=5)
    with torch.no_grad():
        assert model(ids, mask).shape == (5, 2) and model(ids[:1], mask[:1]).shape == (1, 2)


def test_qat_int8_inference_graph_has_no_live_dropout(qat_bert):
    model, _ = qat_bert
    inputs = held_out("bert")
    with torch.no_grad():
        assert torch.equal(model(*inputs), model(*inputs))
    for node in model.graph.graph.nodes:
        if node.target is torch.ops.aten.scaled_dot_product_attention.default:
            assert node.kwargs.get("dropout_p", 0.0) == 0.0 and (len(node.args) < 5 or node.args[4] == 0.0)
        if node.target is torch.ops.aten.dropout.default:
            assert node.args[1:] == (0.1, False)  # BertConfig's hidden dropout, kept through training, now off


def test_set_graph_training_flips_dropout_and_batchnorm_and_keeps_their_settings():
    graph = export_graph(tiny_cnn(), held_out("cnn", batch_size=2), "vision")

    def modes():
        found = []
        for node in graph.graph.nodes:
            if node.target is torch.ops.aten.dropout.default:
                found.append(("dropout", node.args[1], node.args[2]))  # (input, p, train)
            elif node.target is torch.ops.aten.batch_norm.default:
                found.append(("batch_norm", node.args[6:8], node.args[5]))  # (..., training, momentum, eps, ...)
        return sorted(found)

    assert modes() == [("batch_norm", (0.1, 1e-5), False), ("dropout", 0.25, False)]
    set_graph_training(graph, True)
    assert modes() == [("batch_norm", (0.1, 1e-5), True), ("dropout", 0.25, True)]
    set_graph_training(graph, False)
    assert modes() == [("batch_norm", (0.1, 1e-5), False), ("dropout", 0.25, False)]


def conv_bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()


def test_qat_int8_trains_a_conv_batchnorm_net_and_folds_the_batchnorm():
    ctx = context("cnn")
    trained = QatInt8(finetune_steps=3, lr=1e-2).apply(conv_bn_net(), ctx)
    barely = QatInt8(finetune_steps=3, lr=1e-9).apply(conv_bn_net(), context("cnn"))
    assert ctx.cost.finetune_steps == 3
    assert qdq_op_counts(trained)["dequantize_per_channel"] == 2
    assert not any("batch_norm" in str(n.target) for n in trained.graph.graph.nodes)
    inputs = held_out("cnn")
    with torch.no_grad():
        assert not torch.allclose(trained(*inputs), barely(*inputs), atol=1e-3)  # the steps changed the weights
        assert trained(*(t[:1] for t in inputs)).shape == (1, 3) and trained(*(t[:7] for t in inputs)).shape == (7, 3)
    assert_close_to_float_model(conv_bn_net(), "cnn", barely)


def test_converted_model_survives_what_the_core_does_to_it(static_cnn):
    import copy

    from benchsuite.measure.counts import serialized_size_bytes

    model, _ = static_cnn
    copied = copy.deepcopy(model).to("cpu").eval()
    inputs = held_out("cnn", batch_size=4)
    with torch.no_grad():
        assert torch.equal(copied(*inputs), model(*inputs))
    assert serialized_size_bytes(model) < serialized_size_bytes(tiny_cnn())


class DataDependentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 3)

    def forward(self, images):
        flat = images.flatten(1)
        return self.linear(flat) if flat.sum() > 0 else -self.linear(flat)  # a branch on values: not exportable


def test_a_model_torch_export_cannot_capture_is_unsupported():
    with pytest.raises(Unsupported, match="torch.export cannot capture DataDependentNet with dynamic batch"):
        StaticInt8(calibration_samples=8).apply(DataDependentNet().eval(), context("cnn"))


def test_qat_int8_over_budget_fails():
    with pytest.raises(BudgetExceeded, match="5 fine-tune steps asked, 2 left of the budget of 2"):
        QatInt8(finetune_steps=5).apply(tiny_cnn(), context("cnn", budget=2))


@pytest.mark.parametrize("method, params, message", [
    (StaticInt8, {"calibration_samples": 0}, "'static-int8': parameter 'calibration_samples' got 0"),
    (StaticInt8, {"calibration_samples": 1.5}, "parameter 'calibration_samples' got 1.5"),
    (QatInt8, {"finetune_steps": 0}, "'qat-int8': parameter 'finetune_steps' got 0"),
    (QatInt8, {"lr": -1.0}, "parameter 'lr' got -1.0"),
    (QatInt8, {"sparsity": 0.5}, "'qat-int8' has no parameter 'sparsity'"),
])
def test_params_are_validated_on_construction(method, params, message):
    with pytest.raises(ParamError, match=message):
        method(**params)
