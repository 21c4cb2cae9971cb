"""A tiny generative task for tests: a randomly initialised 2-layer Llama (grouped-query attention) over windows
of random tokens, timed as generation."""

import torch

from benchsuite import Generation, Task, hookimpl
from benchsuite.sdk.metrics import NEXT_TOKEN_ACCURACY, PERPLEXITY
from benchsuite_plugins.tasks.causal_lm import CausalLM

VOCAB, WINDOW = 64, 16


def tiny_llama(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return CausalLM(LlamaForCausalLM(config)).eval()


def windows(n, seed):
    """`n` windows of WINDOW + 1 tokens: a repeating pattern with noise, so that a model can learn something."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, VOCAB, (n, 1), generator=g)
    steps = torch.arange(WINDOW + 1).unsqueeze(0)
    noise = (torch.rand(n, WINDOW + 1, generator=g) < 0.1) * torch.randint(0, VOCAB, (n, WINDOW + 1), generator=g)
    return (start + steps * 3 + noise) % VOCAB


class ToyLM(Task):
    name = "toy-lm"
    modality = "causal-lm"
    version = "1"
    metric = PERPLEXITY
    extra_metrics = (NEXT_TOKEN_ACCURACY,)
    num_classes = VOCAB
    batch_size = 2
    finetune_batch_size = 2
    finetune_lr = 1e-3
    generation = Generation(prompt_tokens=8, new_tokens=4)

    def __init__(self):
        self.eval_windows, self.train_windows = windows(12, 1), windows(64, 0)

    def reference_model(self, cache_dir):
        return tiny_llama()

    def eval_batches(self, batch_size, limit=None):
        n = len(self.eval_windows) if limit is None else min(limit, len(self.eval_windows))
        for i in range(0, n, batch_size):
            w = self.eval_windows[i:min(i + batch_size, n)]
            yield (w[:, :-1],), w[:, 1:]

    def train_batches(self, batch_size, seed):
        g = torch.Generator().manual_seed(seed)
        while True:
            w = self.train_windows[torch.randint(0, len(self.train_windows), (batch_size,), generator=g)]
            yield (w[:, :-1],), w[:, 1:]

    def example_inputs(self, batch_size):
        return (self.eval_windows[:batch_size, :-1],)


@hookimpl
def benchsuite_register_tasks(register):
    register(ToyLM)
