"""Real natural photos from the scikit-image wheel, turned into ImageNet-style 224x224 inputs.

No labelled ImageNet images can be had offline; these photos are the real images that ship in a wheel. Only
the photos of things ImageNet's classes depict are evaluated: a fixed grid of square crops at four scales, each
also mirrored. Fine-tuning and calibration draw random crops and flips from the other photos, and no scene is
in both sets (`DROPPED_PHOTOS` says which photo was left out for that and why), so that no method trains on an
evaluated scene.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchsuite.errors import DataError
from benchsuite.sdk.reference import packaged_file

#: photos whose views are evaluated (6 x 60 = 360 views): the sample photos whose subject is ImageNet content
#: (a cat, an espresso, a rocket on its pad, a motorcycle, a man at a tripod camera, an astronaut with a shuttle
#: model); the views of one photo are correlated, so the interval resamples photos, not views
EVAL_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "motorcycle_left")
#: photos that fine-tuning and calibration sample from (never evaluated): textures, coins, the moon, galaxies,
#: microscopy, a retina, text, a horse's silhouette, a logo and a motion-blurred wall clock; the clock aside none
#: is ImageNet content, and none is the scene of an evaluated photo
TRAIN_PHOTOS = ("coins", "grass", "moon", "hubble_deep_field", "brick", "page", "retina", "immunohistochemistry",
                "gravel", "clock", "text", "cell", "horse", "logo")
#: sample photos in the wheel that neither set uses, and why
DROPPED_PHOTOS = {
    "motorcycle_right": "the right view of the stereo pair whose left view, motorcycle_left, is evaluated: one "
                        "scene; task version 1 trained on it",
}
#: (crop side as a fraction of the shorter side, grid positions per axis): 1 + 4 + 9 + 16 = 30 crops, x2 mirrored
VIEW_GRID = ((1.0, 1), (0.8, 2), (0.6, 3), (0.4, 4))
#: evaluation views per photo: every crop of `VIEW_GRID`, as is and mirrored
VIEWS_PER_PHOTO = 2 * sum(per_axis * per_axis for _, per_axis in VIEW_GRID)
RESIZE, CROP = 256, 224
INSTALL_HINT = "pip install scikit-image"
#: each photo's file in the scikit-image wheel and its sha256 (the digests of skimage's own data registry),
#: checked before the photo is read
PHOTO_FILES = {
    "astronaut": ("astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    "chelsea": ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    "coffee": ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "rocket": ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    "camera": ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    "coins": ("coins.png", "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
    "grass": ("grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    "moon": ("moon.png", "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
    "motorcycle_left": ("motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    "brick": ("brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    "page": ("page.png", "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
    "retina": ("retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
    "immunohistochemistry": ("ihc.png", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    "gravel": ("gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    "clock": ("clock_motion.png", "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
    "text": ("text.png", "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
    "cell": ("cell.png", "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"),
    "horse": ("horse.png", "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455"),
    "logo": ("logo.png", "f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168"),
}


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


def photo_file(name: str) -> str:
    """The photo's file inside the scikit-image wheel, checked by sha256."""
    filename, sha256 = PHOTO_FILES[name]
    return str(packaged_file("scikit-image", f"skimage/data/{filename}", sha256, INSTALL_HINT,
                             f"the ImageNet-class tasks need the photo {name}"))


def load_photo(name: str) -> np.ndarray:
    """One scikit-image sample photo as uint8 HxWx3 (grayscale and RGBA converted), its file checked first."""
    try:
        from skimage import data
    except ImportError:
        raise DataError(f"the ImageNet-class tasks need scikit-image's sample photos; install them with: "
                        f"{INSTALL_HINT}") from None
    path = photo_file(name)
    if name.startswith("motorcycle_"):  # a view of the stereo pair, read as data.stereo_motorcycle() reads it
        from skimage.io import imread

        image = np.asarray(imread(path))
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
    """All evaluation views, uint8 N x 3 x 224 x 224, in a fixed order (photo by photo, `VIEWS_PER_PHOTO` each)."""
    return torch.stack([v for name in photos for v in grid_views(load_photo(name))])


def view_photos(photos: Sequence[str] = EVAL_PHOTOS) -> torch.Tensor:
    """The index in `photos` of the photo each view of ``eval_views(photos)`` was cut from (int64, N)."""
    return torch.arange(len(photos)).repeat_interleave(VIEWS_PER_PHOTO)


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
