"""Task cards, task availability, the tweets task's data and metric."""

import pytest
import torch

from benchsuite.sdk.metrics import macro_f1
from benchsuite.grid.planning import build_grid
from benchsuite.grid.orchestration import run_grid
from conftest import cli


def test_macro_f1_is_the_unweighted_mean_of_per_class_f1():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1, 1, 0]), 3).float()
    # class 0: tp 2, fp 1, fn 1 -> 4/6; class 1: tp 2, fp 1, fn 0 -> 4/5; class 2: tp 0, fn 1 -> 0
    assert macro_f1(logits, labels) == pytest.approx((4 / 6 + 4 / 5 + 0) / 3)


def test_tweets_task_has_three_classes_in_a_stratified_split():
    from benchsuite_plugins.tasks.tweets_sentiment import TweetsSentiment

    task = TweetsSentiment()
    texts, labels = task.texts_and_labels()
    assert len(texts) == len(labels) > 35_000 and set(labels.tolist()) == {0, 1, 2}
    sizes = task.split_sizes()
    assert sizes["eval"] == pytest.approx(0.1 * len(labels), abs=3)
    share = torch.bincount(task._data["test_y"]) / sizes["eval"]
    whole = torch.bincount(torch.from_numpy(labels)) / len(labels)
    assert torch.allclose(share, whole, atol=0.002)


def test_task_card_names_data_license_splits_checksums_reference_metric_and_version():
    proc = cli("tasks", "show", "imagenet-mobilenetv2", check=0)
    for text in ("(version 2, vision)", "license:", "eval views 360, eval photos 6", "sha256:", "b03531047ffacf1e",
                 "metric:         top1_agreement_with_fp32 (higher is better); also recorded: top5_overlap_with_fp32",
                 "normalization mean [0.485, 0.456, 0.406]", "augmentation:   random square crops"):
        assert text in proc.stdout, text
    listing = cli("tasks", "list", check=0).stdout
    assert "tweets-sentiment" in listing and "macro_f1" in listing
    bad = cli("tasks", "show", "imagenet-mobilenet")
    assert bad.returncode == 2 and "Did you mean 'imagenet-mobilenetv2'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_an_unavailable_task_gives_skipped_rows_with_its_reason(toy_plugins, toy_cache, monkeypatch):
    from benchsuite.sdk.interfaces import Availability

    task_cls = toy_plugins.tasks.get("toy-blobs")
    monkeypatch.setattr(task_cls, "availability", lambda self: Availability(False, "needs network: test"))
    rows = run_grid(toy_plugins, build_grid(toy_plugins, ["toy-blobs"], ["magnitude-pruning"]), progress=False)
    assert [r["status"] for r in rows] == ["skipped", "skipped"]
    assert all("toy-blobs unavailable: needs network: test" in r["error"] for r in rows)


def test_a_generative_task_card_says_how_it_is_timed():
    from benchsuite.discovery.taskcard import TaskCard
    from benchsuite_plugins.tasks.smollm2_text import SmolLM2Text

    text = TaskCard.of(SmolLM2Text()).text()
    assert "(version 1, causal-lm)" in text and "perplexity (lower is better)" in text
    assert "timed as:       generation: a 128-token prompt, then 32 greedy tokens with the KV cache" in text
