"""distillation: Hinton knowledge distillation from the reference model into a smaller student.

BERT-style transformers get a student with fewer layers, initialised DistilBERT-style from every other teacher
layer; CNNs whose `features` hold residual blocks (MobileNetV2, EfficientNet) get a shallower student that drops
some of the blocks whose output is their input plus a branch, initialised from the teacher's other blocks; a
SmallCNN gets a narrower SmallCNN trained from scratch. Any other model is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from benchsuite import Param, Unsupported, hookimpl
from benchsuite.sdk.training import train
from benchsuite_plugins.tasks.efficientnet_lite import is_residual_block
from benchsuite_plugins.tasks.mnist_cnn import SmallCNN

from .language_models import SkipsLanguageModels


@dataclass(frozen=True)
class Recipe:
    """Training settings for one kind of student (`lr` is used when the parameter is 0)."""

    lr: float
    weight_decay: float
    warmup_fraction: float
    #: None: the task's fine-tuning batch size
    batch_size: int | None


# Each student trains like its teacher's reference model was trained: a layer-dropped transformer starts close to
# the teacher and takes the reference fine-tuning recipe (AdamW 1e-4, batch 32); a CNN trained from scratch takes
# the reference CNN's (AdamW 2e-3, batch 64).
TRANSFORMER_RECIPE = Recipe(lr=1e-4, weight_decay=0.01, warmup_fraction=0.1, batch_size=32)
CNN_RECIPE = Recipe(lr=2e-3, weight_decay=1e-4, warmup_fraction=0.05, batch_size=64)
# A block-dropped pretrained CNN starts close to its teacher: the task's fine-tuning rate and batch size.
PRETRAINED_CNN_RECIPE = Recipe(lr=0.0, weight_decay=1e-4, warmup_fraction=0.1, batch_size=None)


def find_transformer(model: nn.Module) -> nn.Module | None:
    """The first BERT-like encoder inside `model`: a module with ``config.num_hidden_layers`` and
    ``encoder.layer`` (a ModuleList), as Hugging Face's BertModel, RobertaModel and their kin have."""
    for module in model.modules():
        layers = getattr(getattr(module, "encoder", None), "layer", None)
        if isinstance(layers, nn.ModuleList) and hasattr(getattr(module, "config", None), "num_hidden_layers"):
            return module
    return None


def kept_layer_indices(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers, starting at the first: 0, 2, 4 of 6 (DistilBERT's every other layer)."""
    return [i * teacher_layers // student_layers for i in range(student_layers)]


def drop_layers(model: nn.Module, student_layers: int) -> list[int]:
    """Keep `student_layers` of the transformer's layers in `model`, in place; return the kept teacher indices.

    Embeddings, norms and the task head are the teacher's, untouched.
    """
    encoder = find_transformer(model)
    if encoder is None:
        raise Unsupported("no BERT-like encoder (a module with encoder.layer) in the model")
    layers = encoder.encoder.layer
    if student_layers >= len(layers):
        raise Unsupported(f"student_layers={student_layers} is not fewer than the teacher's {len(layers)} layers")
    kept = kept_layer_indices(len(layers), student_layers)
    encoder.encoder.layer = nn.ModuleList(layers[i] for i in kept)
    for new_index, layer in enumerate(encoder.encoder.layer):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):  # Hugging Face's key/value cache is indexed by it
                module.layer_idx = new_index
    encoder.config.num_hidden_layers = student_layers
    return kept


def residual_blocks(model: nn.Module) -> list[int]:
    """Indices in ``model.features`` of the blocks that add their input to their output (shape-preserving), as
    torchvision's ``use_res_connect`` blocks and EfficientNet's stride-1 MBConv blocks with a skip."""
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        return []
    return [i for i, block in enumerate(features)
            if getattr(block, "use_res_connect", False) is True or is_residual_block(block)]


def drop_residual_blocks(model: nn.Module, fraction: float) -> list[int]:
    """Remove `fraction` of the residual blocks of ``model.features``, evenly spread; return the dropped indices."""
    candidates = residual_blocks(model)
    count = int(len(candidates) * fraction + 0.5)
    if not candidates or count == 0:
        raise Unsupported(f"drop_blocks={fraction} drops none of the model's {len(candidates)} residual blocks")
    # evenly spaced among the candidates, ending at the last: 1, 3, 5, 7, 9 of 10
    dropped = [candidates[len(candidates) - 1 - i * len(candidates) // count] for i in range(count)]
    model.features = nn.Sequential(*(b for i, b in enumerate(model.features) if i not in set(dropped)))
    return sorted(dropped)


def narrow_cnn(teacher: SmallCNN, width_multiplier: float) -> SmallCNN:
    """A freshly initialised SmallCNN with `width_multiplier` times the teacher's channels and hidden units."""
    width = teacher.features[0][0].out_channels
    hidden = teacher.classifier[1].out_features
    num_classes = teacher.classifier[-1].out_features
    return SmallCNN(width=max(1, int(width * width_multiplier)), hidden=max(1, int(hidden * width_multiplier)),
                    num_classes=num_classes)


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.'s KL(teacher || student) at `temperature`, scaled by T² so gradients keep their size."""
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True) * temperature ** 2


class _PooledOutput:
    """Records the masked mean of a transformer's last hidden state at each forward pass (a forward hook)."""

    def __init__(self, encoder: nn.Module) -> None:
        self.pooled: torch.Tensor | None = None
        self._handle = encoder.register_forward_hook(self._record, with_kwargs=True)

    def _record(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        if mask is None:
            self.pooled = hidden.mean(1)
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            self.pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def remove(self) -> None:
        self._handle.remove()


class Distillation(SkipsLanguageModels):
    name = "distillation"
    family = "distillation"
    causal_lm_missing = ("distillation builds students of BERT-like encoders and CNNs; it has no causal-lm student (a "
                         "decoder with fewer layers trained on the teacher's next-token distributions), and its "
                         "headline 3-layer student of a 30-layer language model would not recover within the "
                         "fine-tuning budget")
    parameters = (
        Param("student_layers", int, 3, "transformer layers the student keeps (taken evenly from the teacher's, "
              "starting at the first); transformers only", min=1),
        Param("width_multiplier", float, 0.5, "student channels and hidden units as a fraction of the teacher's; "
              "SmallCNN only", min=0.05, max=1.0),
        Param("drop_blocks", float, 0.5, "fraction of the residual blocks a CNN student drops (evenly spread); "
              "CNNs with residual blocks in `features` (MobileNetV2, EfficientNet) only", min=0.05, max=1.0),
        Param("temperature", float, 2.0, "softmax temperature of the soft targets", min=0.1, max=100.0),
        Param("alpha", float, 0.5, "weight of the soft-target loss; 1 - alpha goes to cross-entropy with the labels",
              min=0.0, max=1.0),
        Param("hidden_weight", float, 0.0, "weight of a cosine loss between the student's and the teacher's "
              "mean-pooled last hidden states; transformers only", min=0.0, max=100.0),
        Param("finetune_steps", int, 200, "distillation training steps", min=1),
        Param("lr", float, 0.0, "learning rate; 0 uses 1e-4 for a transformer student, 2e-3 for a CNN student "
              "trained from scratch, the task's fine-tuning rate for a block-dropped CNN",
              min=0.0, max=1.0),
    )
    standard_configs = ({"student_layers": 3, "width_multiplier": 0.5},)
    sweep_configs = ({"student_layers": 2, "width_multiplier": 0.25}, {"student_layers": 4, "width_multiplier": 0.75})

    def apply(self, model, context):
        torch.manual_seed(context.seed)
        teacher = context.teacher
        if isinstance(model, SmallCNN):
            student, recipe = narrow_cnn(model, self.params["width_multiplier"]), CNN_RECIPE
            self._distill(student, teacher, context, recipe)
            return student.eval()
        if residual_blocks(model):
            drop_residual_blocks(model, self.params["drop_blocks"])
            self._distill(model, teacher, context, PRETRAINED_CNN_RECIPE)
            return model.eval()
        if find_transformer(model) is None:
            raise Unsupported(f"distillation builds students for BERT-like encoders, CNNs with residual blocks in "
                              f"`features` and SmallCNN, not {type(model).__name__}")
        drop_layers(model, self.params["student_layers"])
        hooks = []
        if self.params["hidden_weight"] > 0:
            hooks = [_PooledOutput(find_transformer(model)), _PooledOutput(find_transformer(teacher))]
        try:
            self._distill(model, teacher, context, TRANSFORMER_RECIPE, hooks)
        finally:
            for hook in hooks:
                hook.remove()
        return model.eval()

    def _distill(self, student: nn.Module, teacher: nn.Module, context, recipe: Recipe,
                 hooks: list[_PooledOutput] = ()) -> None:
        temperature, alpha, hidden_weight = (self.params[k] for k in ("temperature", "alpha", "hidden_weight"))

        def loss_fn(logits: torch.Tensor, inputs: tuple, labels: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                teacher_logits = teacher(*inputs)
            loss = alpha * soft_target_loss(logits, teacher_logits, temperature)
            loss = loss + (1 - alpha) * F.cross_entropy(logits, labels)
            if hooks:
                student_pooled, teacher_pooled = (h.pooled for h in hooks)
                loss = loss + hidden_weight * (1 - F.cosine_similarity(student_pooled, teacher_pooled, dim=-1)).mean()
            return loss

        steps = self.params["finetune_steps"]
        lr = self.params["lr"] or recipe.lr or context.task.finetune_lr
        train(student, context.training_batches(steps, recipe.batch_size), steps, lr,
              weight_decay=recipe.weight_decay, warmup_fraction=recipe.warmup_fraction, loss_fn=loss_fn,
              freeze_batchnorm=context.task.freeze_batchnorm)


@hookimpl
def benchsuite_register_methods(register):
    register(Distillation)
