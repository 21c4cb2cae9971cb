"""The standard public benchmarks, for users with a network: models and data from the Hugging Face hub.

Without a network these tasks are unavailable (every row of theirs is `skipped`, "needs network"). The loading
code is the real one (transformers' Auto classes, `datasets.load_dataset`); the tests run it on tiny local
copies in the hub's formats (a folder written by `save_pretrained`; a dataset folder with a README.md whose
YAML declares the configs and Parquet files, as hub dataset repos do).
"""

from __future__ import annotations

import os
import socket
from abc import abstractmethod
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from benchsuite import Task, hookimpl
from benchsuite.errors import DataError
from benchsuite.sdk.interfaces import Availability
from benchsuite.sdk.metrics import ACCURACY

from . import photos
from .imagenet_fidelity import ImageNetEfficientNetLite0, ImageNetMobileNetV2

HUB_HOST = "huggingface.co"


def _is_local(path: str) -> bool:
    return Path(path).expanduser().is_dir()


def hub_reachable(timeout: float = 3.0) -> str | None:
    """None if the hub answers a TCP connection, else why not."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {HUB_HOST} ({type(exc).__name__}: {exc})"


class LogitsOf(nn.Module):
    """A transformers classifier as ``model(*inputs) -> logits`` (the signature every benchsuite model has)."""

    def __init__(self, model: nn.Module, input_names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs))).logits


class HubAccess:
    """What every hub task shares: a model id and a dataset id (either may be a local folder: tests, mirrors),
    and without a network the task is unavailable, saying why."""

    name: ClassVar[str]
    model_id: ClassVar[str]
    dataset_id: ClassVar[str]
    dataset_config: ClassVar[str | None] = None
    eval_split: ClassVar[str] = "validation"
    train_split: ClassVar[str] = "train"
    data_license = "see the dataset card on the Hugging Face hub"
    #: appended to the "needs network" reason (e.g. an offline alternative)
    offline_hint: ClassVar[str] = ""

    def hub_ids(self) -> tuple[str, ...]:
        """What this task loads from the hub (model and dataset ids; local folders need no network)."""
        return self.model_id, self.dataset_id

    def availability(self) -> Availability:
        ids = self.hub_ids()
        if all(_is_local(i) for i in ids):
            return Availability(True)
        reason = hub_reachable()
        if reason is None:
            return Availability(True)
        return Availability(False, f"needs network: {self.name} loads {' and '.join(ids)} from the Hugging Face "
                                   f"hub, and {reason}; run it on a machine with internet access{self.offline_hint}")

    def _require(self) -> None:
        available = self.availability()
        if not available.ok:
            raise DataError(available.reason)


class HubTask(HubAccess, Task):
    """A pretrained hub classifier scored on a hub dataset split. Ids may be local folders (tests, mirrors)."""

    metric = ACCURACY
    standard_suite = False  # needs a network, and hours on a CPU: run with --task NAME or --suite full
    #: the transformers Auto classes that load the model and its tokenizer or image processor
    model_class: ClassVar[str]
    processor_class: ClassVar[str]
    #: the model's keyword arguments, in the order `encode` returns the tensors
    input_names: ClassVar[tuple[str, ...]]
    label_column: ClassVar[str] = "label"
    #: evaluate at most this many samples (a fixed, evenly spaced subset); None: the whole split
    eval_limit: ClassVar[int | None] = None

    @cached_property
    def _eval(self) -> Any:
        self._require()
        from datasets import load_dataset

        split = load_dataset(self.dataset_id, self.dataset_config, split=self.eval_split)
        return split.select(self._eval_indices(len(split)))

    def _eval_indices(self, size: int) -> list[int]:
        if self.eval_limit is None or size <= self.eval_limit:
            return list(range(size))
        step = size / self.eval_limit
        return [int(i * step) for i in range(self.eval_limit)]

    def _train_stream(self, seed: int) -> Iterator[dict]:
        """Shuffled training rows, forever; when training and evaluation share a split, the evaluated rows are
        left out of training."""
        from datasets import load_dataset

        split = load_dataset(self.dataset_id, self.dataset_config, split=self.train_split)
        if self.train_split == self.eval_split:
            evaluated = set(self._eval_indices(len(split)))
            split = split.select([i for i in range(len(split)) if i not in evaluated])
        epoch = 0
        while True:
            yield from split.shuffle(seed=seed + epoch)
            epoch += 1

    def reference_model(self, cache_dir: Path) -> nn.Module:
        self._require()
        import transformers

        # no code from the hub runs; transformers reads safetensors, and a .bin checkpoint with
        # torch.load(weights_only=True) (its default)
        model = getattr(transformers, self.model_class).from_pretrained(self.model_id, trust_remote_code=False)
        return LogitsOf(model, self.input_names).eval()

    @cached_property
    def _processor(self) -> Any:
        import transformers

        return getattr(transformers, self.processor_class).from_pretrained(self.model_id, trust_remote_code=False)

    @abstractmethod
    def encode(self, rows: list[dict]) -> tuple[torch.Tensor, ...]:
        """Model inputs for dataset rows, in the order of `input_names`."""

    def eval_batches(self, batch_size: int, limit: int | None = None) -> Iterator[tuple]:
        split = self._eval
        count = len(split) if limit is None else min(limit, len(split))
        for start in range(0, count, batch_size):
            rows = [split[i] for i in range(start, min(start + batch_size, count))]
            yield self.encode(rows), torch.tensor([r[self.label_column] for r in rows])

    def train_batches(self, batch_size: int, seed: int) -> Iterator[tuple]:
        stream = self._train_stream(seed)
        while True:
            rows = [next(stream) for _ in range(batch_size)]
            yield self.encode(rows), torch.tensor([r[self.label_column] for r in rows])

    def example_inputs(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        split = self._eval
        return self.encode([split[i % len(split)] for i in range(batch_size)])

    def split_sizes(self) -> dict[str, int]:
        return {self.eval_split: len(self._eval)}

    @property
    def eval_size(self) -> int:
        return len(self._eval)


class Sst2DistilBert(HubTask):
    name = "sst2-distilbert"
    modality = "nlp"
    version = "1"
    num_classes = 2
    batch_size = 32
    finetune_lr = 2e-5
    model_id = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    dataset_id = "nyu-mll/glue"
    dataset_config = "sst2"
    max_length = 128
    description = ("GLUE SST-2 validation (872 sentences, binary sentiment) with DistilBERT fine-tuned on SST-2 "
                   "(distilbert-base-uncased-finetuned-sst-2-english); needs the Hugging Face hub.")
    data_source = "nyu-mll/glue, config sst2, split validation (fine-tuning: split train)"
    reference = "distilbert/distilbert-base-uncased-finetuned-sst-2-english (Apache-2.0)"
    preprocessing = "the model's own tokenizer (uncased WordPiece), truncated to 128 tokens, padded per batch"

    model_class, processor_class = "AutoModelForSequenceClassification", "AutoTokenizer"
    input_names = ("input_ids", "attention_mask")

    def encode(self, rows: list[dict]) -> tuple[torch.Tensor, ...]:
        batch = self._processor([r["sentence"] for r in rows], truncation=True, max_length=self.max_length,
                                padding=True, return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"]


class ImageNetResNet50(HubTask):
    name = "imagenet-resnet50"
    modality = "vision"
    version = "1"
    num_classes = 1000
    batch_size = 32
    finetune_lr = 1e-4
    model_id = "microsoft/resnet-50"
    #: ILSVRC/imagenet-1k itself is gated (accept its terms, log in); this public mirror has the same 50,000
    #: validation images and labels in Parquet
    dataset_id = "mrm8488/ImageNet1K-val"
    eval_split = "train"  # the mirror publishes the validation images as its only split
    train_split = "train"
    eval_limit = 10_000
    description = ("ImageNet-1k validation, a fixed evenly spaced 10,000 of the 50,000 images, top-1 accuracy of "
                   "microsoft/resnet-50 (transformers); needs the Hugging Face hub.")
    data_source = ("mrm8488/ImageNet1K-val (a public Parquet copy of the ILSVRC2012 validation set; the official "
                   "ILSVRC/imagenet-1k is gated); fine-tuning draws from the 40,000 images not evaluated")
    data_license = "ImageNet terms of access (non-commercial research)"
    reference = "microsoft/resnet-50 (Apache-2.0), ResNet-50 v1.5 trained on ImageNet-1k"
    preprocessing = "the model's own image processor: resize shorter side 256 (bicubic), center crop 224, ImageNet mean/std"

    model_class, processor_class = "AutoModelForImageClassification", "AutoImageProcessor"
    input_names = ("pixel_values",)

    def encode(self, rows: list[dict]) -> tuple[torch.Tensor, ...]:
        images = [r["image"].convert("RGB") for r in rows]
        return (self._processor(images=images, return_tensors="pt")["pixel_values"],)


class ImageNetValidation(HubTask):
    """An offline ImageNet-class task's own model (`offline`), scored by top-1 accuracy on ImageNet validation
    images from the hub instead of by fidelity on the bundled photos; preprocessing and fine-tuning recipe are the
    offline task's. Only the data needs the network."""

    offline: ClassVar[type]
    modality = "vision"
    num_classes = 1000
    batch_size = 32
    finetune_lr = 1e-4
    freeze_batchnorm = True
    finetune_batch_size = 16
    dataset_id = ImageNetResNet50.dataset_id
    eval_split = train_split = "train"
    eval_limit = 10_000
    data_source = ImageNetResNet50.data_source
    data_license = ImageNetResNet50.data_license
    model_id = ""

    @cached_property
    def _task(self) -> Any:
        return self.offline()

    @property
    def reference(self) -> str:  # type: ignore[override]
        return self._task.reference

    @property
    def preprocessing(self) -> str:  # type: ignore[override]
        return (f"resize the shorter side to {photos.RESIZE} (bilinear, antialiased), center-crop {photos.CROP}; "
                f"normalization {self._task.normalization.describe()}")

    def hub_ids(self) -> tuple[str, ...]:
        return (self.dataset_id,)  # the model is the offline task's

    @property
    def offline_hint(self) -> str:  # type: ignore[override]
        return f", or use {self._task.name} (offline, fidelity to the fp32 model)"

    def reference_model(self, cache_dir: Path) -> nn.Module:
        self._require()
        return self._task.reference_model(cache_dir)

    def checksums(self) -> dict[str, str]:
        return self._task.checksums()

    def encode(self, rows: list[dict]) -> tuple[torch.Tensor, ...]:
        import numpy as np

        crops = [photos.standard_crop(torch.from_numpy(np.asarray(r["image"].convert("RGB"))).permute(2, 0, 1))
                 for r in rows]
        return (self._task.normalization(torch.stack(crops)),)


class ImageNetMobileNetV2Validation(ImageNetValidation):
    name = "imagenet-mobilenetv2-val"
    version = "1"
    offline = ImageNetMobileNetV2
    description = ("imagenet-mobilenetv2's model (torchvision's MobileNetV2) scored by top-1 accuracy on a fixed "
                   "evenly spaced 10,000 of the 50,000 ImageNet-1k validation images; needs the Hugging Face hub.")


class ImageNetEfficientNetLite0Validation(ImageNetValidation):
    name = "imagenet-efficientnet-lite0-val"
    version = "1"
    offline = ImageNetEfficientNetLite0
    description = ("imagenet-efficientnet-lite0's model scored by top-1 accuracy on a fixed evenly spaced 10,000 "
                   "of the 50,000 ImageNet-1k validation images; needs the Hugging Face hub.")


@hookimpl
def benchsuite_register_tasks(register):
    register(Sst2DistilBert)
    register(ImageNetMobileNetV2Validation)
    register(ImageNetEfficientNetLite0Validation)
    register(ImageNetResNet50)
