"""The model contract of the language-model tasks (modality ``causal-lm``): a Hugging Face causal LM as
``model(input_ids) -> logits`` for evaluation and ``model(input_ids, cache) -> logits`` for generation with a KV
cache (`benchsuite.Generation`). Methods change the wrapped model in place (its ``nn.Linear`` layers, its blocks),
so every compressed model keeps the two calls."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class CausalLM(nn.Module):
    """A transformers causal language model (``LlamaForCausalLM`` and the like) as benchsuite calls it.

    ``lm`` is the wrapped model: methods reach its layers through it (``lm.model.layers[i].self_attn.q_proj``
    for the Llama layout)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    @property
    def config(self) -> Any:
        return self.lm.config

    def new_cache(self) -> Any:
        """An empty KV cache that calls with it extend in place (transformers' ``DynamicCache``)."""
        from transformers import DynamicCache

        return DynamicCache(config=self.lm.config)

    def forward(self, input_ids: torch.Tensor, cache: Any = None) -> torch.Tensor:
        """Logits ``[batch, tokens, vocab]`` for `input_ids`. With `cache` (generation), the tokens continue those
        the cache holds (positions follow on), their keys and values are appended to it, and only the last
        position's logits are computed, ``[batch, 1, vocab]``, as inference servers do."""
        if cache is None:
            return self.lm(input_ids=input_ids, use_cache=False).logits
        return self.lm(input_ids=input_ids, cache=cache, use_cache=True, logits_to_keep=1).logits
