"""Shared fixtures: offline hub cache, tiny random models of each architecture, one thread."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile

import pytest
import torch
from jaxtyping import install_import_hook

import tests.shape_checks  # noqa: F401  (imported first: the hook below names its checker)

# Every jaxtyping shape annotation in mechcirc is checked at run time in the tests, so a tensor of
# the wrong shape fails a test (tests/shape_checks.py). Installed before mechcirc is imported.
install_import_hook(["mechcirc"], "tests.shape_checks.check_shapes")

# huggingface_hub reads these once, at import: set them before anything imports it. Tests never
# touch the user's cache and never wait on network retries.
_TEST_HF_HOME = tempfile.mkdtemp(prefix="mechcirc-test-hf-")
os.environ["HF_HOME"] = _TEST_HF_HOME
os.environ.pop("HF_HUB_CACHE", None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)  # 2-core shared machines: more threads oversubscribe


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_TEST_HF_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def offline_hub() -> str:
    """HF_HOME (set for the whole session) holding the tiny pythia-160m at step0/1000/143000."""
    from mechcirc.models.offline_hub import build_offline_hub

    return str(build_offline_hub(_TEST_HF_HOME, micro=False))


@pytest.fixture(scope="session")
def micro_hub() -> str:
    """HF_HOME (the same) holding the trained micro-pythia at its first and last checkpoints."""
    from mechcirc.models.micro_spec import load_spec
    from mechcirc.models.offline_hub import write_micro_pythia

    revisions = load_spec().revisions()
    write_micro_pythia(_TEST_HF_HOME, [revisions[0], revisions[-1]])
    return _TEST_HF_HOME


@pytest.fixture
def offline_env(offline_hub) -> str:
    """Use in tests that load ``pythia-160m`` from the offline hub (subprocesses inherit it)."""
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
