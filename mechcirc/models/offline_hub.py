"""A hand-built Hugging Face hub cache holding a tiny Pythia-architecture model.

With ``HF_HOME`` pointed at the folder this writes and ``HF_HUB_OFFLINE=1``, the
user-facing path (``mechcirc.load_model("pythia-160m", revision="step143000")``, the CLI)
resolves revisions exactly as it would against the real hub: ``refs/<revision>`` holds a
commit hash and ``snapshots/<hash>/`` the files. Each revision gets different weights.

Example:
    >>> home = build_offline_hub("/tmp/mechcirc-hub")          # doctest: +SKIP
    >>> # HF_HOME=/tmp/mechcirc-hub HF_HUB_OFFLINE=1 mechcirc models info pythia-160m
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from mechcirc.models.names import normalize_revision, resolve_model_id
from mechcirc.models.tokenizers import pythia_tokenizer

log = logging.getLogger(__name__)

DEFAULT_REVISIONS = ("step0", "step1000", "step143000")
PYTHIA_VOCAB = 50304  # Pythia pads the 50,277-token vocabulary to a multiple of 128


@dataclass(frozen=True)
class TinyPythiaShape:
    """Shape of the built-in offline model: Pythia's architecture, made small."""

    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 64
    d_mlp: int = 256
    n_ctx: int = 256

    def config(self) -> GPTNeoXConfig:
        """A GPT-NeoX config with Pythia's choices: rotary on 25% of dims, parallel attn/MLP."""
        return GPTNeoXConfig(
            vocab_size=PYTHIA_VOCAB,
            hidden_size=self.d_model,
            num_hidden_layers=self.n_layers,
            num_attention_heads=self.n_heads,
            intermediate_size=self.d_mlp,
            max_position_embeddings=self.n_ctx,
            rotary_pct=0.25,
            rotary_emb_base=10000,
            use_parallel_residual=True,
            hidden_act="gelu",
            layer_norm_eps=1e-5,
            tie_word_embeddings=False,
            bos_token_id=0,
            eos_token_id=0,
            architectures=["GPTNeoXForCausalLM"],
        )


def fake_commit_hash(model_id: str, revision: str) -> str:
    """A stable 40-hex commit id per (model, revision), as the hub would have."""
    return hashlib.sha1(f"{model_id}@{revision}".encode()).hexdigest()


def revision_seed(revision: str) -> int:
    """A deterministic seed per revision, so every revision has different weights."""
    return int(hashlib.sha256(revision.encode()).hexdigest()[:8], 16)


def build_offline_hub(
    home: str | Path,
    model: str = "pythia-160m",
    revisions: Sequence[str] = DEFAULT_REVISIONS,
    shape: TinyPythiaShape | None = None,
) -> Path:
    """Write a hub cache under ``home/hub`` with ``model`` at every revision in ``revisions``.

    ``refs/main`` points at the last revision, as ``main`` is Pythia's final checkpoint.
    Rebuilding is idempotent: the same revision always gets the same weights. Revisions are
    checked and normalised as ``load_model`` does (``1000`` -> ``step1000``; ``step-5`` and
    unreleased Pythia steps are refused) before anything is written.

    Returns:
        ``home``, to be used as ``HF_HOME``.
    """
    if not revisions:
        raise ValueError("revisions must name at least one revision, e.g. ('step143000',)")
    home = Path(home)
    shape = shape or TinyPythiaShape()
    model_id = resolve_model_id(model)
    revisions = [normalize_revision(revision, model_id) for revision in revisions]
    repo_dir = home / "hub" / ("models--" + model_id.replace("/", "--"))
    tokenizer = pythia_tokenizer()
    for revision in revisions:
        commit = fake_commit_hash(model_id, revision)
        snapshot = repo_dir / "snapshots" / commit
        if not (snapshot / "model.safetensors").is_file():
            log.info("building %s@%s in %s", model_id, revision, snapshot)
            _write_snapshot(snapshot, shape, revision, tokenizer)
        _write_ref(repo_dir, revision, commit)
    _write_ref(repo_dir, "main", fake_commit_hash(model_id, revisions[-1]))
    (home / "mechcirc-offline-hub.json").write_text(
        json.dumps(
            {"model_id": model_id, "revisions": list(revisions), "shape": asdict(shape)}, indent=2
        )
    )
    return home


def _write_snapshot(snapshot: Path, shape: TinyPythiaShape, revision: str, tokenizer) -> None:
    with torch.random.fork_rng():  # leave the caller's random state as it was
        torch.manual_seed(revision_seed(revision))
        model = GPTNeoXForCausalLM(shape.config())
    snapshot.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(snapshot, safe_serialization=True)
    tokenizer.save_pretrained(snapshot)


def _write_ref(repo_dir: Path, revision: str, commit: str) -> None:
    ref = repo_dir / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
