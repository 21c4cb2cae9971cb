"""Real natural photos from the scikit-image wheel, turned into ImageNet-style 224x224 inputs.

No labelled ImageNet images can be had offline; these photos are the real images that ship in a wheel. The
evaluation views are a fixed grid of square crops at four scales, each also mirrored; fine-tuning and
calibration draw random crops and flips from *other* photos, so that no method trains on an evaluated photo.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchsuite.errors import DataError

#: photos whose views are evaluated (12 x 60 = 720 views)
EVAL_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "grass", "moon",
               "hubble_deep_field", "motorcycle_left", "brick", "page")
#: photos that fine-tuning and calibration sample from (never evaluated)
TRAIN_PHOTOS = ("motorcycle_right", "retina", "immunohistochemistry", "gravel", "clock", "text", "cell",
                "horse", "logo")
#: (crop side as a fraction of the shorter side, grid positions per axis): 1 + 4 + 9 + 16 = 30 crops, x2 mirrored
VIEW_GRID = ((1.0, 1), (0.8, 2), (0.6, 3), (0.4, 4))
RESIZE, CROP = 256, 224
INSTALL_HINT = "pip install scikit-image"


@dataclass(frozen=True)
class Normalization:
    """Per-channel normalization applied after scaling pixels to [0, 1]."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW -> normalized float32 NCHW."""
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def describe(self) -> str:
        return f"mean {list(self.mean)}, std {list(self.std)} (on [0, 1] pixels)"


IMAGENET_NORMALIZATION = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def load_photo(name: str) -> np.ndarray:
    """One scikit-image sample photo as uint8 HxWx3 (grayscale and RGBA converted)."""
    try:
        from skimage import data
    except ImportError:
        raise DataError(f"the ImageNet-class tasks need scikit-image's sample photos; install them with: "
                        f"{INSTALL_HINT}") from None
    if name.startswith("motorcycle_"):  # the two views of the stereo pair
        image = np.asarray(data.stereo_motorcycle()[0 if name.endswith("left") else 1])
    else:
        image = np.asarray(getattr(data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def standard_crop(square: torch.Tensor) -> torch.Tensor:
    """ImageNet evaluation preprocessing of one uint8 CHW crop: resize the shorter side to 256 (bilinear,
    antialiased), center-crop 224; stays uint8."""
    x = square.unsqueeze(0).float()
    h, w = x.shape[-2:]
    scale = RESIZE / min(h, w)
    x = F.interpolate(x, size=(max(RESIZE, round(h * scale)), max(RESIZE, round(w * scale))), mode="bilinear",
                      antialias=True, align_corners=False)
    h, w = x.shape[-2:]
    top, left = (h - CROP) // 2, (w - CROP) // 2
    return x[0, :, top:top + CROP, left:left + CROP].round().clamp(0, 255).to(torch.uint8)


def grid_views(image: np.ndarray) -> list[torch.Tensor]:
    """The fixed evaluation views of one photo: `VIEW_GRID` square crops, each as is and mirrored."""
    chw = torch.from_numpy(image).permute(2, 0, 1)
    h, w = chw.shape[-2:]
    views = []
    for fraction, per_axis in VIEW_GRID:
        side = int(min(h, w) * fraction)
        tops = np.linspace(0, h - side, per_axis).round().astype(int) if per_axis > 1 else [(h - side) // 2]
        lefts = np.linspace(0, w - side, per_axis).round().astype(int) if per_axis > 1 else [(w - side) // 2]
        for top in tops:
            for left in lefts:
                view = standard_crop(chw[:, top:top + side, left:left + side])
                views += [view, view.flip(-1)]
    return views


def eval_views(photos: Sequence[str] = EVAL_PHOTOS) -> torch.Tensor:
    """All evaluation views, uint8 N x 3 x 224 x 224, in a fixed order (photo by photo)."""
    return torch.stack([v for name in photos for v in grid_views(load_photo(name))])


def random_views(photos: Sequence[np.ndarray], batch_size: int, seed: int,
                 min_area: float = 0.2) -> Iterator[torch.Tensor]:
    """Training-time augmentation, forever: random-resized square crops (`min_area` to all of the shorter
    side's square) of random photos, mirrored half the time; uint8 batches, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    chws = [torch.from_numpy(p).permute(2, 0, 1) for p in photos]
    while True:
        batch = []
        for _ in range(batch_size):
            chw = chws[rng.integers(len(chws))]
            h, w = chw.shape[-2:]
            side = int(min(h, w) * np.sqrt(rng.uniform(min_area, 1.0)))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            view = standard_crop(chw[:, top:top + side, left:left + side])
            batch.append(view.flip(-1) if rng.random() < 0.5 else view)
        yield torch.stack(batch)
