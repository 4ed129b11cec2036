"""Shared fixtures: offline hub cache, tiny random models of each architecture, one thread."""

from __future__ import annotations

import functools
import os

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"  # never wait on network retries in tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)  # 2-core shared machines: more threads oversubscribe


@pytest.fixture(scope="session")
def offline_hub(tmp_path_factory) -> str:
    """HF_HOME of a hub cache with the tiny pythia-160m at step0, step1000 and step143000."""
    from mechcirc.models.offline_hub import build_offline_hub

    return str(build_offline_hub(tmp_path_factory.mktemp("hf_home")))


@pytest.fixture
def offline_env(offline_hub, monkeypatch) -> str:
    """Point HF_HOME at the offline hub cache for one test."""
    monkeypatch.setenv("HF_HOME", offline_hub)
    monkeypatch.setenv("HF_HUB_CACHE", os.path.join(offline_hub, "hub"))
    return offline_hub


@functools.cache
def _tiny(arch: str, n_layers: int, seed: int):
    from mechcirc.models.tiny import tiny_model

    return tiny_model(arch, n_layers=n_layers, seed=seed)


@pytest.fixture(scope="session")
def tiny():
    """Factory for cached tiny random models: ``tiny("gpt-neox" | "gpt2" | "llama", n_layers=2)``.

    Models are shared between tests: do not modify their weights or leave hooks on them.
    """

    def make(arch: str = "gpt-neox", n_layers: int = 2, seed: int = 0):
        model = _tiny(arch, n_layers, seed)
        model.reset_hooks()
        return model

    return make
