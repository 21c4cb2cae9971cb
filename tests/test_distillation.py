import copy

import pytest
import torch
from torch import nn

from benchsuite import Unsupported
from benchsuite.errors import ParamError
from benchsuite.sdk.interfaces import MethodContext, TaskInfo
from benchsuite_plugins.methods.distillation import (Distillation, drop_layers, kept_layer_indices, narrow_cnn,
                                                     soft_target_loss)
from benchsuite_plugins.tasks.mnist_cnn import SmallCNN

from conftest import random_images, tiny_bert as make_tiny_bert

VISION = TaskInfo("v", "vision", "1", "accuracy", True, 10, 16, finetune_lr=1e-3)
NLP = TaskInfo("n", "nlp", "1", "accuracy", True, 2, 16, finetune_lr=1e-3)
VOCAB, SEQ = 50, 12


def tiny_cnn():
    torch.manual_seed(0)
    return SmallCNN(width=4, hidden=16).eval()


def tiny_bert():
    # large random weights, so that dropped layers matter
    return make_tiny_bert(layers=4, vocab=VOCAB, max_positions=SEQ, initializer_range=0.2)


image_stream = random_images


def token_stream(batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    while True:
        ids = torch.randint(1, VOCAB, (batch_size, SEQ), generator=g)
        lengths = torch.randint(3, SEQ + 1, (batch_size, 1), generator=g)
        mask = (torch.arange(SEQ) < lengths).long()
        yield (ids * mask, mask), torch.randint(0, 2, (batch_size,), generator=g)


def context(teacher, info, stream, budget=100):
    return MethodContext(task=info, teacher=teacher, seed=0, device=torch.device("cpu"), finetune_budget_steps=budget,
                         train_stream=stream, batch_size=16)


def soft_loss_on(model, teacher, stream, batches=4):
    """Mean soft-target loss of `model` against `teacher` on fixed batches of the training stream."""
    data = stream(16, 0)
    with torch.no_grad():
        return sum(float(soft_target_loss(model(*x), teacher(*x), 2.0)) for x, _ in (next(data) for _ in range(batches)))


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_kept_layers_are_every_other_layer_from_the_first():
    assert kept_layer_indices(6, 3) == [0, 2, 4]
    assert kept_layer_indices(4, 2) == [0, 2]
    assert kept_layer_indices(6, 2) == [0, 3]
    assert kept_layer_indices(6, 1) == [0]


def test_drop_layers_copies_the_chosen_teacher_layers():
    teacher = tiny_bert()
    student = copy.deepcopy(teacher)
    assert drop_layers(student, 2) == [0, 2]
    assert len(student.encoder.encoder.layer) == 2 and student.encoder.config.num_hidden_layers == 2
    for new, old in enumerate([0, 2]):
        assert_unchanged(student.encoder.encoder.layer[new], teacher.encoder.encoder.layer[old].state_dict())
    assert_unchanged(student.encoder.embeddings, teacher.encoder.embeddings.state_dict())
    assert_unchanged(student.head, teacher.head.state_dict())
    assert teacher.encoder.config.num_hidden_layers == 4


def test_transformer_student_is_shallower_and_closer_to_the_teacher():
    teacher = tiny_bert()
    before = snapshot(teacher)
    at_init = copy.deepcopy(teacher)
    drop_layers(at_init, 2)
    ctx = context(teacher, NLP, token_stream)
    # alpha=1: labels of the random stream carry nothing, the teacher is all there is to learn
    student = Distillation(student_layers=2, alpha=1.0, hidden_weight=0.5, finetune_steps=20, lr=1e-3).apply(
        copy.deepcopy(teacher), ctx)
    assert len(student.encoder.encoder.layer) == 2 and not student.training
    assert ctx.cost.finetune_steps == 20
    assert soft_loss_on(student, teacher, token_stream) < soft_loss_on(at_init, teacher, token_stream)
    assert_unchanged(teacher, before)
    assert len(teacher.encoder.encoder.layer) == 4 and not teacher.training
    assert not teacher.encoder._forward_hooks and not student.encoder._forward_hooks  # hidden-state hooks removed
    ids, mask = next(token_stream(3, 1))[0]
    assert student(ids, mask).shape == (3, 2)


def test_cnn_student_is_narrower_and_learns_from_the_teacher():
    teacher = tiny_cnn()
    before = snapshot(teacher)
    torch.manual_seed(0)
    at_init = narrow_cnn(teacher, 0.5).eval()  # apply() seeds with context.seed before building, as here
    ctx = context(teacher, VISION, image_stream)
    student = Distillation(width_multiplier=0.5, finetune_steps=15, lr=1e-2).apply(copy.deepcopy(teacher), ctx)
    assert isinstance(student, SmallCNN) and not student.training
    assert student.features[0][0].out_channels == 2 and student.classifier[1].out_features == 8
    assert student.classifier[-1].out_features == 10
    assert ctx.cost.finetune_steps == 15
    assert soft_loss_on(student, teacher, image_stream) < soft_loss_on(at_init, teacher, image_stream)
    assert_unchanged(teacher, before)


def test_distillation_is_deterministic_for_a_seed():
    teacher = tiny_cnn()
    runs = [Distillation(finetune_steps=3).apply(copy.deepcopy(teacher), context(teacher, VISION, image_stream))
            for _ in range(2)]
    assert_unchanged(runs[0], runs[1].state_dict())


def test_over_budget_fails():
    teacher = tiny_cnn()
    with pytest.raises(ParamError, match="budget of 3"):
        Distillation(finetune_steps=5).apply(copy.deepcopy(teacher), context(teacher, VISION, image_stream, budget=3))


@pytest.mark.parametrize("params", [{"temperature": 0.0}, {"alpha": 1.5}, {"student_layers": 0},
                                    {"width_multiplier": 0.0}, {"hidden_weight": -1.0}, {"finetune_steps": 0},
                                    {"lr": -1e-3}, {"depth": 2}])
def test_bad_params_fail_on_construction(params):
    with pytest.raises(ParamError, match="'distillation'"):
        Distillation(**params)


def test_unsupported_models_are_skipped():
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    with pytest.raises(Unsupported, match="not Sequential"):
        Distillation().apply(copy.deepcopy(teacher), context(teacher, VISION, image_stream))
    bert = tiny_bert()
    with pytest.raises(Unsupported, match="not fewer than the teacher's 4 layers"):
        Distillation(student_layers=4).apply(copy.deepcopy(bert), context(bert, NLP, token_stream))


def test_configs_are_valid():
    for config in Distillation.standard_configs + Distillation.sweep_configs:
        Distillation(**config)
    assert len(Distillation.standard_configs) == 1
