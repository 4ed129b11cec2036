"""Shared pieces for the L3D tests: a trained TMS (cached), a tiny GPT-Neo, attention targets."""

from __future__ import annotations

import functools

import pytest
import torch

from mechcirc.analyses.l3d import TOYS, TokenData, ToyTrainingConfig, token_target, train_toy


@functools.cache
def _trained_tms():
    return train_toy(TOYS["tms"], ToyTrainingConfig(steps=1500), seed=0)


@pytest.fixture
def trained_tms():
    """TMS 5 -> 2 trained for 1500 fast steps (seed 0); shared, do not modify."""
    return _trained_tms()


@functools.cache
def _tiny_gpt_neo():
    """A tiny random GPT-Neo (the paper's TinyStories architecture) as a TransformerBridge."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    from mechcirc.models.tokenizers import saved_tokenizer

    config = GPTNeoConfig(
        vocab_size=50257,
        max_position_embeddings=64,
        hidden_size=32,
        num_layers=2,
        attention_types=[[["global", "local"], 1]],
        num_heads=4,
        intermediate_size=64,
        window_size=16,
        bos_token_id=50256,
        eos_token_id=50256,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        hf_model = GPTNeoForCausalLM(config).eval()
    bridge = TransformerBridge.boot_transformers(
        "tiny-gpt-neo", hf_model=hf_model, tokenizer=saved_tokenizer("gpt2.tokenizer.json")
    )
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=True)
    return bridge.eval()


@pytest.fixture
def tiny_gpt_neo():
    return _tiny_gpt_neo()


@pytest.fixture
def attention_target(tiny):
    """Last-position KL target over ``blocks.0.attn.*`` of the tiny GPT-NeoX, random tokens."""
    data = TokenData(n_texts=48, n_eval=16, seq_len=8, positions="last")
    return token_target(tiny("gpt-neox"), "blocks.0.attn.*", data)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
