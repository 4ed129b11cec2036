"""Small shared pieces for the L3D tests: a trained TMS toy (cached) and an attention target."""

from __future__ import annotations

import functools

import pytest
import torch

from mechcirc.analyses.l3d.builders import random_tokens, token_target
from mechcirc.analyses.l3d.toys import TOYS, train_toy


@functools.cache
def _trained_tms():
    return train_toy(TOYS["tms"], seed=0, steps=1500)


@pytest.fixture
def trained_tms():
    """TMS 5 -> 2 trained for 1500 steps (seed 0); shared, do not modify."""
    return _trained_tms()


@pytest.fixture
def attention_target(tiny):
    """KL target over ``blocks.0.attn.*`` of the tiny GPT-NeoX on 48 random 8-token rows."""
    model = tiny("gpt-neox")
    return token_target(model, "blocks.0.attn.*", random_tokens(model, 48, 8, seed=0))


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
