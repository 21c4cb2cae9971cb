"""hf-causal-lm: any causal language model from the Hugging Face hub, scored by perplexity on the token windows of
a hub text dataset and timed as generation, like smollm2-text (for users with a network; offline it is
unavailable, "needs network"). The loading code is the real one; the tests run it on a tiny Llama and a dataset
folder saved locally in the hub's formats."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from benchsuite import hookimpl
from benchsuite.errors import ParamError

from .causal_lm import CausalLM
from .hub import HubAccess
from .lm_text import CausalLMTextTask, TokenWindows, context_length, cut_windows, split_documents, tokenize_documents


class HfCausalLM(HubAccess, CausalLMTextTask):
    """Any causal LM from the hub scored by perplexity on the windows of a hub text dataset, with the windows,
    metrics and generation timing of smollm2-text. Configure it by subclassing: `model_id`, `dataset_id`,
    `dataset_config`, `eval_split`, `train_split`, `text_column`, `window_tokens`, `eval_windows`."""

    name = "hf-causal-lm"
    version = "1"
    standard_suite = False  # needs a network: run with --task NAME or --suite full
    model_id = "HuggingFaceTB/SmolLM2-135M"
    dataset_id = "Salesforce/wikitext"
    dataset_config = "wikitext-2-raw-v1"
    eval_split = "test"
    train_split = "train"
    #: the dataset column that holds the text; each non-blank row is a document
    text_column: ClassVar[str] = "text"
    #: every window of the evaluation split
    eval_windows = None
    # wikitext's rows are the paragraphs and headings of articles, not documents: every position is scored, as in
    # the usual wikitext perplexity
    mask_document_starts = False
    #: orders the documents when evaluation and training share one split (evaluation then needs `eval_windows`)
    split_seed: ClassVar[int] = 0
    description = ("Perplexity of a causal LM from the hub (default HuggingFaceTB/SmolLM2-135M) on the non-overlapping "
                   "256-token windows of a hub text dataset's evaluation split (default wikitext-2-raw-v1, test); "
                   "next-token accuracy recorded too; timed as generation like smollm2-text (128-token prompts, 32 "
                   "new tokens, batch 1 and 4); needs the Hugging Face hub.")
    data_source = ("Salesforce/wikitext, config wikitext-2-raw-v1, split test (fine-tuning: split train); when both "
                   "are one split, its rows are split by document (seeded)")
    reference = "HuggingFaceTB/SmolLM2-135M (Apache-2.0), loaded with AutoModelForCausalLM in fp32"
    preprocessing = ("the model's own tokenizer, no special tokens; non-blank rows joined by a blank line into one "
                     "token stream per split, cut into non-overlapping windows of 257 tokens (inputs: the first 256; "
                     "labels: the next token at each position); the tail shorter than a window dropped")

    @cached_property
    def _config(self) -> Any:
        self._require()
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.model_id, trust_remote_code=False)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return int(self._config.vocab_size)

    @cached_property
    def _tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_id, trust_remote_code=False)

    def _documents(self, split: str) -> tuple[list[list[int]], list[int]]:
        """The token ids of the split's non-blank rows and of the document separator."""
        self._require()
        from datasets import load_dataset

        texts = load_dataset(self.dataset_id, self.dataset_config, split=split)[self.text_column]
        return tokenize_documents(self._tokenizer, [t for t in texts if t and not t.isspace()])

    def _cut(self, documents: list[list[int]], separator: list[int], max_windows: int | None = None) -> TokenWindows:
        return cut_windows(documents, separator, self.window_tokens, max_windows, self.mask_document_starts)

    @cached_property
    def _shared_split(self) -> dict[str, TokenWindows]:
        """Both splits' windows when evaluation and training share one dataset split: split by document."""
        if self.eval_windows is None:
            raise ParamError(f"{self.name}: eval_split and train_split are both {self.eval_split!r}, so its rows are "
                             "split by document, which needs eval_windows; set eval_windows (e.g. 64)")
        docs, separator = self._documents(self.eval_split)
        evaluated, trained = split_documents([len(d) for d in docs], [True] * len(docs),
                                             self.eval_windows * (self.window_tokens + 1), len(separator),
                                             self.split_seed)
        return {"eval": self._cut([docs[i] for i in evaluated], separator, self.eval_windows),
                "train": self._cut([docs[i] for i in trained], separator)}

    @cached_property
    def _eval_windows(self) -> TokenWindows:
        if self.train_split == self.eval_split:
            return self._shared_split["eval"]
        return self._cut(*self._documents(self.eval_split), self.eval_windows)

    @cached_property
    def _train_windows(self) -> TokenWindows:  # tokenized only when fine-tuning or calibration asks for it
        if self.train_split == self.eval_split:
            return self._shared_split["train"]
        return self._cut(*self._documents(self.train_split))

    def windows(self, split: str) -> TokenWindows:
        return self._eval_windows if split == "eval" else self._train_windows

    def split_sizes(self) -> dict[str, int]:
        evaluated = self.windows("eval")
        return {f"{self.eval_split} windows": len(evaluated), f"{self.eval_split} tokens scored": evaluated.scored_tokens}

    def reference_model(self, cache_dir: Path) -> nn.Module:
        self.check_lengths(context_length(self._config))
        from transformers import AutoModelForCausalLM

        # no code from the hub runs (see HubTask.reference_model)
        lm = AutoModelForCausalLM.from_pretrained(self.model_id, trust_remote_code=False, dtype=torch.float32)
        return CausalLM(lm).eval()


@hookimpl
def benchsuite_register_tasks(register):
    register(HfCausalLM)
