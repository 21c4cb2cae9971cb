"""early-exit: classifiers after intermediate blocks, self-distilled from the model's own final classifier; at
inference each sample leaves at the first exit that is confident enough and the rest of the batch goes on without it."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from benchsuite import Param, Unsupported, hookimpl
from benchsuite.sdk.training import train

from .language_models import SkipsLanguageModels

# The exit heads are trained from scratch, so the task's fine-tuning rate is far too low; with 300 steps 1e-2 gave the
# most accurate heads on both tasks (1e-3 left the first mnist-cnn exit at 86% instead of 94%).
DEFAULT_HEAD_LR = 1e-2


class Stages(nn.Module):
    """A frozen backbone cut into `depth` stages, with an exit head after every stage but the last.

    `state` is what flows from one stage to the next (a feature map; hidden states with their mask); subclasses
    know how to start it from the model inputs, run a stage on it, classify it, and keep only some samples.
    """

    exits: nn.ModuleList

    @property
    def depth(self) -> int:
        return len(self.exits) + 1

    def start(self, *inputs: torch.Tensor) -> Any:
        raise NotImplementedError

    def stage(self, index: int, state: Any) -> Any:
        raise NotImplementedError

    def exit(self, index: int, state: Any) -> torch.Tensor:
        """Logits of exit `index` (after stage `index`); the last stage's exit is the model's own classifier."""
        raise NotImplementedError

    def select(self, state: Any, keep: torch.Tensor) -> Any:
        """The state of the samples where `keep` is true, in order."""
        raise NotImplementedError


class ConvStages(Stages):
    """`features` (an nn.Sequential of conv blocks and pooling) + `classifier`, as SmallCNN and torchvision's CNNs (with
    a global `pool` between them, as MobileNetV2): one stage per conv block, or, past `MAX_STAGES` blocks, one stage
    per resolution (a new stage starts at each block that downsamples).

    Exit heads: adaptive average pooling to 7x7 when that keeps the head under 200k weights (coarser pooling loses the digit's
    shape: 4x4 left the first mnist-cnn exit about 10 points less accurate), else global average pooling (a
    1,000-class head on 7x7 maps would outweigh the backbone), then a linear layer.
    """

    MAX_STAGES = 6
    MAX_HEAD_PARAMS = 200_000

    def __init__(self, model: nn.Module, num_classes: int) -> None:
        super().__init__()
        groups: list[list[nn.Module]] = []
        for child in model.features:
            # parameter-free modules (pooling, activations) join the conv block before them
            if any(isinstance(m, nn.Conv2d) for m in child.modules()) or not groups:
                groups.append([child])
            else:
                groups[-1].append(child)
        if len(groups) > self.MAX_STAGES:
            stages: list[list[nn.Module]] = []
            for group in groups:
                if not stages or any(_downsamples(m) for m in group):
                    stages.append([])
                stages[-1].extend(group)
            groups = stages
        if len(groups) < 2:
            raise Unsupported("early-exit needs at least two conv blocks in `features`")
        self.blocks = nn.ModuleList(nn.Sequential(*g) for g in groups)
        self.pool = getattr(model, "pool", None)
        self.classifier = model.classifier
        self.exits = nn.ModuleList(_conv_head(_channels(block), num_classes, self.MAX_HEAD_PARAMS)
                                   for block in self.blocks[:-1])

    def start(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def stage(self, index: int, state: torch.Tensor) -> torch.Tensor:
        return self.blocks[index](state)

    def exit(self, index: int, state: torch.Tensor) -> torch.Tensor:
        if index < len(self.exits):
            return self.exits[index](state)
        if self.pool is not None:
            state = torch.flatten(self.pool(state), 1)
        return self.classifier(state)

    def select(self, state: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return state[keep]


def _conv_head(channels: int, num_classes: int, max_params: int) -> nn.Module:
    side = 7 if 49 * channels * num_classes <= max_params else 1
    return nn.Sequential(nn.AdaptiveAvgPool2d(side), nn.Flatten(), nn.Linear(side * side * channels, num_classes))


def _downsamples(module: nn.Module) -> bool:
    """Whether `module` holds a convolution or pooling with a stride above 1."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            stride = m.stride if isinstance(m.stride, (tuple, list)) else (m.stride,)
            if max(stride) > 1:
                return True
    return False


def _channels(block: nn.Module) -> int:
    channels = None
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            channels = m.out_channels
        elif isinstance(m, nn.BatchNorm2d):
            channels = m.num_features
    if channels is None:
        raise Unsupported("early-exit cannot tell the channel count of a block of `features`")
    return channels


class TransformerStages(Stages):
    """A classifier over a Hugging Face BERT-style `encoder` (embeddings + encoder.layer) with mean pooling over the
    attention mask, `dropout` and a linear `head` (as MiniLMClassifier): one stage per transformer layer.

    Exit heads: the same mean pooling and a linear layer, like the final head.
    """

    def __init__(self, model: nn.Module, num_classes: int) -> None:
        super().__init__()
        encoder = model.encoder
        self.config = encoder.config
        self.embeddings = encoder.embeddings
        self.layers = encoder.encoder.layer
        self.dropout = model.dropout
        self.head = model.head
        if len(self.layers) < 2:
            raise Unsupported("early-exit needs at least two transformer layers")
        self.exits = nn.ModuleList(nn.Linear(self.config.hidden_size, num_classes) for _ in self.layers[:-1])

    def _with_mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
        from transformers.masking_utils import create_bidirectional_mask

        # the mask in the form this attention implementation wants, made as BertModel.forward makes it
        return hidden, attention_mask, create_bidirectional_mask(config=self.config, inputs_embeds=hidden,
                                                                 attention_mask=attention_mask)

    def start(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
        return self._with_mask(self.embeddings(input_ids=input_ids), attention_mask)

    def stage(self, index: int, state: tuple) -> tuple:
        hidden, attention_mask, layer_mask = state
        return self.layers[index](hidden, layer_mask), attention_mask, layer_mask

    def exit(self, index: int, state: tuple) -> torch.Tensor:
        hidden, attention_mask, _ = state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if index == len(self.exits):
            return self.head(self.dropout(pooled))
        return self.exits[index](pooled)

    def select(self, state: tuple, keep: torch.Tensor) -> tuple:
        hidden, attention_mask, _ = state
        hidden, attention_mask = hidden[keep], attention_mask[keep]
        # drop the columns that are padding in every remaining sample (positions are already embedded)
        used = attention_mask.any(0).nonzero()
        if len(used):
            width = int(used.max()) + 1
            hidden, attention_mask = hidden[:, :width], attention_mask[:, :width]
        return self._with_mask(hidden, attention_mask)


def _is_bert_classifier(model: nn.Module) -> bool:
    encoder = getattr(model, "encoder", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    config = getattr(encoder, "config", None)
    return (hasattr(encoder, "embeddings") and isinstance(layers, nn.ModuleList) and config is not None
            and not getattr(config, "is_decoder", False) and isinstance(getattr(model, "head", None), nn.Linear)
            and isinstance(getattr(model, "dropout", None), nn.Module))


def stages_of(model: nn.Module, num_classes: int) -> Stages:
    """Cut `model` into stages with fresh exit heads, or raise Unsupported for a model of another shape."""
    features, classifier = getattr(model, "features", None), getattr(model, "classifier", None)
    if isinstance(features, nn.Sequential) and isinstance(classifier, nn.Module):
        return ConvStages(model, num_classes)
    if _is_bert_classifier(model):
        return TransformerStages(model, num_classes)
    raise Unsupported(f"early-exit handles CNNs with `features` and `classifier` and BERT-style classifiers with "
                      f"`encoder` and `head`, not {type(model).__name__}")


class EarlyExitModel(nn.Module):
    """Runs a `Stages` backbone; in eval mode each sample stops at the first exit whose top softmax probability
    exceeds `threshold`, and the samples still running continue as a smaller batch.

    In train mode the backbone stays in eval mode without gradients and the call returns the logits of every exit,
    stacked (the last is the model's own classifier), for self-distillation.
    """

    def __init__(self, stages: Stages, threshold: float) -> None:
        super().__init__()
        self.stages = stages
        self.threshold = threshold
        self._reset_counts()

    def _reset_counts(self) -> None:
        self._samples = self._stages_run = self._early = 0

    def train(self, mode: bool = True) -> EarlyExitModel:
        # only the exit heads ever train: the backbone's dropout and BatchNorm statistics stay in eval mode
        super().train(False)
        self.training = mode
        self.stages.exits.train(mode)
        return self

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self._every_exit(*inputs)
        stages, last = self.stages, self.stages.depth - 1
        batch = running = len(inputs[0])
        out = order = None  # once some samples have left: all logits, and the positions of the samples still running
        stages_run = 0
        state = stages.start(*inputs)
        for index in range(last):
            state = stages.stage(index, state)
            if self.threshold >= 1.0:  # no probability exceeds 1: skip the heads
                continue
            logits = stages.exit(index, state)
            done = torch.softmax(logits.float(), dim=-1).amax(dim=-1) > self.threshold
            exited = int(done.sum())
            if not exited:
                continue
            stages_run += exited * (index + 1)
            if exited == running and out is None:  # the whole batch leaves here (always so at batch size 1)
                self._count(batch, stages_run, batch)
                return logits
            if out is None:
                out = logits.new_empty((batch, logits.shape[-1]))
                order = torch.arange(batch, device=logits.device)
            out[order[done]] = logits[done]
            running -= exited
            if not running:
                self._count(batch, stages_run, batch)
                return out
            keep = ~done
            order = order[keep]
            state = stages.select(state, keep)
        logits = stages.exit(last, stages.stage(last, state))
        self._count(batch, stages_run + running * stages.depth, batch - running)
        if out is None:
            return logits
        out[order] = logits
        return out

    def _count(self, samples: int, stages_run: int, early: int) -> None:
        self._samples += samples
        self._stages_run += stages_run
        self._early += early

    def _every_exit(self, *inputs: torch.Tensor) -> torch.Tensor:
        stages = self.stages
        with torch.no_grad():
            states, state = [], stages.start(*inputs)
            for index in range(stages.depth):
                state = stages.stage(index, state)
                states.append(state)
            final = stages.exit(stages.depth - 1, state)
        return torch.stack([stages.exit(i, s) for i, s in enumerate(states[:-1])] + [final])

    def benchsuite_metrics(self) -> dict[str, float]:
        """Exit statistics over the samples seen since the previous call (then reset).

        :return: ``mean_exit_depth`` (stages run per sample: conv blocks or transformer layers) and
            ``exit_fraction_early`` (share of samples that left before the model's own classifier); NaN when no
            sample was seen.
        """
        n = self._samples
        metrics = {"mean_exit_depth": self._stages_run / n if n else math.nan,
                   "exit_fraction_early": self._early / n if n else math.nan}
        self._reset_counts()
        return metrics


def self_distillation_loss(temperature: float, ce_weight: float):
    """Loss over stacked exit logits: each exit learns the final classifier's softened outputs (and the labels)."""

    def loss_fn(stacked: torch.Tensor, inputs: tuple, labels: torch.Tensor) -> torch.Tensor:
        exits, final = stacked[:-1], stacked[-1]
        target = torch.softmax(final / temperature, dim=-1)
        total = stacked.new_zeros(())
        for logits in exits:  # heads share no parameters, so summing trains each on its own loss
            kd = nn.functional.kl_div(torch.log_softmax(logits / temperature, dim=-1), target,
                                      reduction="batchmean") * temperature ** 2
            total = total + (1 - ce_weight) * kd
            if ce_weight:
                total = total + ce_weight * nn.functional.cross_entropy(logits, labels)
        return total

    return loss_fn


class EarlyExit(SkipsLanguageModels):
    name = "early-exit"
    family = "dynamic"
    causal_lm_missing = ("early-exit trains a classifier head after each stage, distilled from the model's own "
                         "classifier, and lets a whole sample leave at the first confident one; a causal-lm model "
                         "has no classifier (it predicts every token), and a token that left early would leave no "
                         "keys and values in the later layers' KV cache")
    parameters = (
        Param("threshold", float, 0.9, "a sample leaves at the first exit whose top softmax probability exceeds "
              "this; 0 = always the first exit, 1 = never early", min=0.0, max=1.0),
        Param("finetune_steps", int, 300, "training steps of the exit heads (backbone frozen)", min=1),
        Param("temperature", float, 2.0, "distillation temperature", min=0.1, max=20.0),
        Param("ce_weight", float, 0.0, "weight of the label cross-entropy against distillation (0 = pure "
              "self-distillation)", min=0.0, max=1.0),
        Param("lr", float, 0.0, f"learning rate of the exit heads; 0 uses {DEFAULT_HEAD_LR}", min=0.0, max=1.0),
    )
    standard_configs = ({"threshold": 0.9},)
    # the accuracy-depth curve; nothing at or below 0.5, which sends every sample of a two-class task out at once
    sweep_configs = ({"threshold": 0.7}, {"threshold": 0.8}, {"threshold": 0.95}, {"threshold": 0.99})

    def apply(self, model, context):
        stages = stages_of(model, context.task.num_classes)
        exit_params = {id(p) for p in stages.exits.parameters()}
        for p in stages.parameters():
            p.requires_grad_(id(p) in exit_params)
        early = EarlyExitModel(stages, self.params["threshold"])
        steps = self.params["finetune_steps"]
        batches = context.training_batches(steps)
        first = next(batches, None)
        if first is None:
            raise ValueError("early-exit got no training batches for its exit heads")
        _check_reproduces(model, early, first[0])
        loss_fn = self_distillation_loss(self.params["temperature"], self.params["ce_weight"])
        train(early, itertools.chain([first], batches), steps, self.params["lr"] or DEFAULT_HEAD_LR, loss_fn=loss_fn)
        early.benchsuite_metrics()  # start counting afresh
        return early.eval()


def _check_reproduces(model: nn.Module, early: EarlyExitModel, inputs: tuple) -> None:
    """Stage by stage, the full depth must give the model's own logits (else its forward does more than we see)."""
    model.eval()
    early.train()
    with torch.no_grad():
        ours, theirs = early(*inputs)[-1], model(*inputs)
    early.eval()
    if ours.shape != theirs.shape or not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5):
        raise Unsupported(f"early-exit could not reproduce {type(model).__name__}'s forward stage by stage")


@hookimpl
def benchsuite_register_methods(register):
    register(EarlyExit)
