"""The hub tasks' real loading code (transformers Auto classes, datasets.load_dataset) on tiny local copies in
the hub's formats; without a network the hub tasks are skipped with "needs network"."""

import json
import textwrap

import pytest

from conftest import cli

HUB_PLUGIN = textwrap.dedent('''
    import os
    from benchsuite import hookimpl
    from benchsuite_plugins.tasks.hub import ImageNetMobileNetV2Validation, ImageNetResNet50, Sst2DistilBert

    class LocalSst2(Sst2DistilBert):
        name = "sst2-local"
        model_id = os.environ["TEST_SST2_MODEL"]
        dataset_id = os.environ["TEST_SST2_DATA"]

    class LocalResNet(ImageNetResNet50):
        name = "resnet-local"
        model_id = os.environ["TEST_RESNET_MODEL"]
        dataset_id = os.environ["TEST_RESNET_DATA"]
        eval_limit = 6

    class LocalMobileNetVal(ImageNetMobileNetV2Validation):
        name = "mobilenet-val-local"
        dataset_id = os.environ["TEST_RESNET_DATA"]
        eval_limit = 6

    @hookimpl
    def benchsuite_register_tasks(register):
        register(LocalSst2)
        register(LocalResNet)
        register(LocalMobileNetVal)
''')

GLUE_README = textwrap.dedent('''
    ---
    configs:
    - config_name: sst2
      data_files:
      - split: train
        path: sst2/train-*
      - split: validation
        path: sst2/validation-*
    ---
''').lstrip()


@pytest.fixture(scope="module")
def hub_copies(tmp_path_factory):
    """A tiny random DistilBERT and ResNet saved by save_pretrained, and tiny datasets in the hub's layout."""
    import numpy as np
    from datasets import ClassLabel, Dataset, Features, Image, Value
    from PIL import Image as PILImage
    from transformers import (ConvNextImageProcessor, DistilBertConfig, DistilBertForSequenceClassification,
                              DistilBertTokenizerFast, ResNetConfig, ResNetForImageClassification)

    root = tmp_path_factory.mktemp("hub")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film", "movie", "great", "awful"]
    (root / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = DistilBertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    model = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=len(words), dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=64))
    model.save_pretrained(root / "distilbert")
    tokenizer.save_pretrained(root / "distilbert")
    glue = root / "glue"
    (glue / "sst2").mkdir(parents=True)
    (glue / "README.md").write_text(GLUE_README)
    sentences = ["a good film", "a bad movie", "great", "awful film", "a great movie", "bad"]
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]),
                         "idx": Value("int32")})
    for split, n in (("train", 6), ("validation", 6)):
        Dataset.from_dict({"sentence": sentences[:n], "label": [1, 0, 1, 0, 1, 0][:n], "idx": list(range(n))},
                          features=features).to_parquet(str(glue / "sst2" / f"{split}-00000-of-00001.parquet"))

    resnet = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                       layer_type="basic", num_labels=1000))
    resnet.save_pretrained(root / "resnet")
    ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875).save_pretrained(root / "resnet")
    rng = np.random.default_rng(0)
    images = [PILImage.fromarray(rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)) for i in range(10)]
    (root / "imagenet" / "data").mkdir(parents=True)
    Dataset.from_dict({"image": images, "label": list(range(10))},
                      features=Features({"image": Image(), "label": ClassLabel(num_classes=1000)})
                      ).to_parquet(str(root / "imagenet" / "data" / "train-00000-of-00001.parquet"))
    (root / "plugins").mkdir()
    (root / "plugins" / "local_hub.py").write_text(HUB_PLUGIN)
    return root


def test_hub_tasks_run_through_their_real_loading_code_on_local_copies(hub_copies, tmp_path):
    env = {"TEST_SST2_MODEL": str(hub_copies / "distilbert"), "TEST_SST2_DATA": str(hub_copies / "glue"),
           "TEST_RESNET_MODEL": str(hub_copies / "resnet"), "TEST_RESNET_DATA": str(hub_copies / "imagenet"),
           "BENCHSUITE_CACHE": str(tmp_path / "cache")}
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--no-progress", "--isolate", "none", "--plugins-dir", str(hub_copies / "plugins"), "--task", "sst2-local",
               "--task", "resnet-local", "--task", "mobilenet-val-local", "--method", "dynamic-int8", "--backend", "torch-cpu", "--store", str(store),
               env=env)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    by = {(r["task"], r["method"]): r for r in rows}
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 6
    assert by[("sst2-local", "baseline")]["eval_samples"] == 6
    assert by[("resnet-local", "baseline")]["eval_samples"] == 6  # eval_limit: an evenly spaced subset
    assert 0 <= by[("sst2-local", "dynamic-int8")]["score"] <= 1
    # the offline task's real MobileNetV2, scored by accuracy against the dataset's labels
    assert by[("mobilenet-val-local", "baseline")]["metric"] == "accuracy"
    assert by[("mobilenet-val-local", "baseline")]["eval_samples"] == 6


def test_without_a_network_hub_tasks_are_skipped_with_needs_network(tmp_path):
    env = {"HF_HUB_OFFLINE": "1"}
    store = tmp_path / "store"
    proc = cli("run", "--quick", "--no-progress", "--task", "sst2-distilbert", "--backend", "torch-cpu",
               "--method", "dynamic-int8", "--store", str(store), env=env)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(cli("results", "--store", str(store), "--format", "json", check=0).stdout)
    assert {r["status"] for r in rows} == {"skipped"}
    assert all("needs network" in r["error"] and "HF_HUB_OFFLINE" in r["error"] for r in rows)
    listing = cli("tasks", "list", env=env, check=0).stdout
    assert "imagenet-resnet50" in listing and "needs network" in listing
