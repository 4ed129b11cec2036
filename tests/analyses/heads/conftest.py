"""Tiny bridges of each architecture owned by these tests (analyses switch hooks on them)."""

from __future__ import annotations

import functools

import pytest

ARCHS = ("gpt-neox", "gpt2", "llama")


@functools.cache
def _bridge(arch: str):
    from mechcirc.models.tiny import tiny_model

    return tiny_model(arch, n_layers=2, seed=0)


@pytest.fixture(params=ARCHS)
def bridge(request):
    model = _bridge(request.param)
    model.reset_hooks()
    return model


@pytest.fixture(scope="session")
def gpt2_bridge():
    return _bridge("gpt2")
