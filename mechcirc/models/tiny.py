"""Tiny random models of real architectures, for tests, examples and benchmarks.

Each is a transformers model (GPT-NeoX as in Pythia, GPT-2, or Llama with grouped-query
attention) booted as a TransformerBridge with a real tokenizer, so every hook an analysis
needs (split q/k/v input, per-head result, ``hook_mlp_in``) is there.

Example:
    >>> model = tiny_model("gpt-neox", n_layers=2, seed=0)   # doctest: +SKIP
    >>> model.cfg.n_heads                                      # doctest: +SKIP
    4
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from transformer_lens.model_bridge import TransformerBridge
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
)

from mechcirc.errors import UsageError
from mechcirc.models.pythia_shape import TinyPythiaShape
from mechcirc.models.tokenizers import pythia_tokenizer, saved_tokenizer

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "TinyShape",
    "tiny_hf_model",
    "tiny_model",
    "tiny_tokenizer",
]

Architecture = Literal["gpt-neox", "gpt2", "llama"]
ARCHITECTURES: tuple[str, ...] = ("gpt-neox", "gpt2", "llama")


@dataclass(frozen=True)
class TinyShape:
    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 32
    n_kv_heads: int = 2  # Llama only: grouped-query attention, two query heads per KV head
    n_ctx: int = 128


def tiny_hf_model(arch: Architecture, shape: TinyShape, seed: int = 0) -> PreTrainedModel:
    """A randomly initialised transformers model of ``arch`` with ``shape``, seeded by ``seed``.

    The caller's global random state is left as it was.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _random_hf_model(arch, shape)


def _random_hf_model(arch: Architecture, shape: TinyShape) -> PreTrainedModel:
    if arch == "gpt-neox":
        config = TinyPythiaShape(
            n_layers=shape.n_layers,
            n_heads=shape.n_heads,
            d_model=shape.d_model,
            d_mlp=4 * shape.d_model,
            n_ctx=shape.n_ctx,
        ).config()
        return GPTNeoXForCausalLM(config).eval()
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=50257,
            n_positions=shape.n_ctx,
            n_embd=shape.d_model,
            n_layer=shape.n_layers,
            n_head=shape.n_heads,
            bos_token_id=50256,
            eos_token_id=50256,
        )
        return GPT2LMHeadModel(config).eval()
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=50257,
            hidden_size=shape.d_model,
            intermediate_size=4 * shape.d_model,
            num_hidden_layers=shape.n_layers,
            num_attention_heads=shape.n_heads,
            num_key_value_heads=shape.n_kv_heads,
            max_position_embeddings=shape.n_ctx,
            bos_token_id=50256,
            eos_token_id=50256,
            tie_word_embeddings=False,
        )
        return LlamaForCausalLM(config).eval()
    raise UsageError(f"unknown architecture {arch!r}: expected one of {ARCHITECTURES}")


def tiny_tokenizer(arch: Architecture):
    """The real tokenizer a tiny model of ``arch`` uses: Pythia's for GPT-NeoX, else GPT-2's."""
    if arch == "gpt-neox":
        return pythia_tokenizer()
    return saved_tokenizer("gpt2.tokenizer.json")


def tiny_model(
    arch: Architecture = "gpt-neox",
    *,
    n_layers: int = 2,
    n_heads: int = 4,
    d_model: int = 32,
    n_kv_heads: int = 2,
    seed: int = 0,
    processing: Literal["hooked", "none"] = "none",
) -> TransformerBridge:
    """A tiny random ``arch`` model as a TransformerBridge with its real tokenizer, on CPU."""
    shape = TinyShape(n_layers=n_layers, n_heads=n_heads, d_model=d_model, n_kv_heads=n_kv_heads)
    hf_model = tiny_hf_model(arch, shape, seed)
    bridge = TransformerBridge.boot_transformers(
        f"tiny-{arch}", hf_model=hf_model, tokenizer=tiny_tokenizer(arch)
    )
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=processing == "none")
    bridge.eval()
    return bridge
