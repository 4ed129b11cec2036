"""Hub repositories whose checkpoints have non-trivial norms and biases, for processing and
revision-switching tests (a fresh transformers init has unit norms and zero biases, under which
a missing fold or a forgotten reset would go unnoticed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mechcirc.models.offline_hub import fake_commit_hash, revision_seed
from mechcirc.models.tiny import TinyShape, tiny_hf_model, tiny_tokenizer

# repo id -> architecture; each has revisions r1, r2, r3 (GPT-NeoX also a wider "wide" one and
# a "bin-only" one saved as pytorch_model.bin)
REPOS = {
    "mechcirc-test/neox": "gpt-neox",
    "mechcirc-test/gpt2": "gpt2",
    "mechcirc-test/llama": "llama",
}
REVISIONS = ("r1", "r2", "r3")


def perturbed_hf_model(arch: str, seed: int, shape: TinyShape | None = None):
    """A tiny random ``arch`` model whose norm weights, norm biases and biases are random too."""
    model = tiny_hf_model(arch, shape or TinyShape(n_layers=2), seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "norm" in name or ".ln" in name:
                param.copy_(1.0 + 0.5 * noise if name.endswith("weight") else 0.3 * noise)
            elif name.endswith("bias"):
                param.copy_(0.2 * noise)
    return model


def write_revision(repo: str, revision: str, model, arch: str, *, safetensors: bool = True) -> Path:
    """Save ``model`` as ``repo@revision`` in the session's hub cache (``HF_HOME/hub``), and
    point ``main`` at it (TransformerLens reloads the tokenizer from ``main``)."""
    repo_dir = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))
    commit = fake_commit_hash(repo, revision)
    snapshot = repo_dir / "snapshots" / commit
    if safetensors:
        model.save_pretrained(snapshot)
    else:
        snapshot.mkdir(parents=True, exist_ok=True)
        model.config.save_pretrained(snapshot)
        torch.save(model.state_dict(), snapshot / "pytorch_model.bin")
    tiny_tokenizer(arch).save_pretrained(snapshot)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    for ref in (revision, "main"):
        (repo_dir / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope="session")
def perturbed_model():
    """:func:`perturbed_hf_model`, for tests that build their own bridges."""
    return perturbed_hf_model


@pytest.fixture(scope="session")
def perturbed_hub() -> dict[str, str]:
    """The repositories of :data:`REPOS`, written once per session; returns repo -> arch."""
    for repo, arch in REPOS.items():
        for revision in REVISIONS:
            write_revision(repo, revision, perturbed_hf_model(arch, revision_seed(revision)), arch)
    wide = perturbed_hf_model("gpt-neox", 7, TinyShape(n_layers=2, d_model=48))
    write_revision("mechcirc-test/neox", "wide", wide, "gpt-neox")
    bin_model = perturbed_hf_model("gpt-neox", 8)
    write_revision("mechcirc-test/neox", "bin-only", bin_model, "gpt-neox", safetensors=False)
    return dict(REPOS)
