"""The offline ImageNet-class tasks measure what they say: agreement with the fp32 model, on photos whose scenes
no method trains on, with an interval over photos."""

import itertools

import numpy as np
import pytest
import torch
from benchsuite_plugins.tasks import photos
from benchsuite_plugins.tasks.imagenet_fidelity import (
    ImageNetEfficientNetLite0,
    ImageNetMobileNetV2,
    photo_of,
)

from benchsuite.sdk.interfaces import Availability

TASKS = (ImageNetMobileNetV2, ImageNetEfficientNetLite0)
#: matched ORB keypoints consistent with one affine map that make two images one scene; other pairs of the
#: sample photos share at most 3, the stereo motorcycles 60
SAME_SCENE_INLIERS = 15


def _scene(name: str) -> str:
    """A photo's scene by name: the views of a stereo pair are one scene."""
    return name.removesuffix("_left").removesuffix("_right")


def test_evaluation_and_finetuning_photos_share_no_scene_by_name():
    evaluated, trained = set(photos.EVAL_PHOTOS), set(photos.TRAIN_PHOTOS)
    assert not evaluated & trained
    assert not {_scene(n) for n in evaluated} & {_scene(n) for n in trained}
    assert "motorcycle_right" in photos.DROPPED_PHOTOS and "motorcycle_right" not in trained
    assert set(photos.PHOTO_FILES) == evaluated | trained  # only the photos used are read and checksummed


def _orb(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoints and descriptors of `image` (uint8 RGB, or gray in [0, 1]), its shorter side scaled to 256."""
    from skimage.color import rgb2gray
    from skimage.feature import ORB
    from skimage.transform import rescale

    gray = rgb2gray(image) if image.ndim == 3 else image
    gray = rescale(gray, 256 / min(gray.shape), anti_aliasing=True)
    orb = ORB(n_keypoints=300, fast_threshold=0.05)
    try:
        orb.detect_and_extract(gray)
    except RuntimeError:  # a nearly flat image has no keypoints
        return np.zeros((0, 2)), np.zeros((0, 256), bool)
    return orb.keypoints, orb.descriptors


def _shared_points(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """How many keypoints of two images match and agree on one affine map between them (RANSAC inliers)."""
    from skimage.feature import match_descriptors
    from skimage.measure import ransac
    from skimage.transform import AffineTransform

    (points_a, descriptors_a), (points_b, descriptors_b) = a, b
    if len(points_a) < 4 or len(points_b) < 4:
        return 0
    matches = match_descriptors(descriptors_a, descriptors_b, cross_check=True, max_ratio=0.8)
    if len(matches) < 4:
        return 0
    _, inliers = ransac((points_a[matches[:, 0]][:, ::-1], points_b[matches[:, 1]][:, ::-1]), AffineTransform,
                        min_samples=3, residual_threshold=3, max_trials=500, rng=0)
    return 0 if inliers is None else int(inliers.sum())


@pytest.fixture(scope="module")
def photo_features():
    """Every used photo and its ORB features."""
    images = {name: photos.load_photo(name) for name in photos.PHOTO_FILES}
    return images, {name: _orb(image) for name, image in images.items()}


def test_the_same_scene_test_finds_a_stereo_twin_a_crop_and_a_gray_copy(photo_features):
    from skimage.io import imread

    images, features = photo_features
    left = photos.photo_file("motorcycle_left")
    right = np.asarray(imread(left.replace("motorcycle_left.png", "motorcycle_right.png")))[..., :3]
    assert _shared_points(features["motorcycle_left"], _orb(right)) > SAME_SCENE_INLIERS
    chelsea = images["chelsea"]
    side = int(0.6 * min(chelsea.shape[:2]))
    for copy in (chelsea[40:40 + side, 100:100 + side], chelsea.mean(axis=2) / 255):  # a 60% crop, a gray copy
        assert _shared_points(features["chelsea"], _orb(copy)) > SAME_SCENE_INLIERS


def test_no_two_used_photos_show_one_scene_so_no_evaluated_scene_is_trained_on(photo_features):
    _, features = photo_features  # evaluated twice would also count one scene as two independent photos
    shared = {(a, b): _shared_points(features[a], features[b]) for a, b in itertools.combinations(features, 2)}
    assert max(shared.values()) <= SAME_SCENE_INLIERS, sorted(shared.items(), key=lambda kv: -kv[1])[:3]


def test_no_two_used_photos_are_near_identical_after_resizing():
    import torch.nn.functional as F

    def thumbnail(name: str) -> torch.Tensor:
        image = torch.from_numpy(photos.load_photo(name)).permute(2, 0, 1).float().mean(0)[None, None]
        pixels = F.interpolate(image, size=(32, 32), mode="bilinear", antialias=True).flatten()
        pixels = pixels - pixels.mean()
        return pixels / pixels.norm()

    thumbnails = {n: thumbnail(n) for n in photos.PHOTO_FILES}
    correlations = {(a, b): float(thumbnails[a] @ thumbnails[b])
                    for a, b in itertools.combinations(thumbnails, 2)}
    assert max(correlations.values()) < 0.7, max(correlations.items(), key=lambda kv: kv[1])


def test_the_evaluated_photos_are_imagenet_content_and_the_others_are_named_with_a_reason():
    off_imagenet = {"coins", "grass", "moon", "hubble_deep_field", "brick", "page", "text", "retina",
                    "immunohistochemistry", "cell", "gravel", "logo", "horse"}
    assert not off_imagenet & set(photos.EVAL_PHOTOS)
    assert len(photos.EVAL_PHOTOS) * photos.VIEWS_PER_PHOTO == 360


@pytest.mark.parametrize("task_cls", TASKS, ids=lambda t: t.name)
def test_the_metric_says_agreement_with_fp32_and_its_interval_resamples_photos(task_cls):
    task = task_cls()
    assert task.metric.name == "top1_agreement_with_fp32" and "accuracy" not in task.metric.name
    assert [m.name for m in task.extra_metrics] == ["top5_overlap_with_fp32"]
    assert task.version == "2" and task.metric.cluster_ids is photo_of
    assert "not accuracy" in task.description and "360 views" in task.description
    assert "motorcycle_right" in task.data_source and "no scene in both" in task.data_source


def test_every_evaluation_label_carries_its_photo_through_a_subset():
    task = ImageNetMobileNetV2()
    labels = torch.cat([y for _, y in task.eval_batches(32, limit=100)])
    assert labels.shape == (100, 6)
    whole = torch.cat([y for _, y in task.eval_batches(64)])
    assert torch.equal(photo_of(whole), photos.view_photos())
    assert set(photo_of(labels).tolist()) <= set(range(len(photos.EVAL_PHOTOS)))


def test_stored_rows_name_the_metric_agreement_with_fp32(all_plugins, tmp_path, monkeypatch):
    from benchsuite.grid.orchestration import run_grid
    from benchsuite.grid.planning import build_grid
    from benchsuite.results.store import ResultStore, load_results

    monkeypatch.setattr(ImageNetMobileNetV2, "availability", lambda self: Availability(False, "test"))
    store = ResultStore(tmp_path / "store")
    run_grid(all_plugins, build_grid(all_plugins, ["imagenet-mobilenetv2"], ["baseline"], ["torch-cpu"]),
             store=store, progress=False)
    stored = load_results(tmp_path / "store")
    assert set(stored["metric"]) == {"top1_agreement_with_fp32"} and set(stored["task_version"]) == {"2"}
