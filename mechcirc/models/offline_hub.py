"""A hand-built Hugging Face hub cache holding the built-in models.

Two models: a tiny *random* Pythia-architecture model stored as ``EleutherAI/pythia-160m``
(each revision different random weights; for tests of loading and plumbing), and the *trained*
micro-Pythia (``mechcirc/micro-pythia``, every checkpoint, expanded from the weights shipped in
``mechcirc/data/micro-pythia``; see ``mechcirc.models.micro_pythia``).

With ``HF_HOME`` pointed at the folder this writes and ``HF_HUB_OFFLINE=1``, the
user-facing path (``mechcirc.load_model("micro-pythia", revision="step3000")``, the CLI)
resolves revisions exactly as it would against the real hub: ``refs/<revision>`` holds a
commit hash and ``snapshots/<hash>/`` the files.

Example:
    >>> home = build_offline_hub("/tmp/mechcirc-hub")          # doctest: +SKIP
    >>> # HF_HOME=/tmp/mechcirc-hub HF_HUB_OFFLINE=1 mechcirc models info micro-pythia
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import GPTNeoXForCausalLM, PreTrainedModel

from mechcirc.models.micro_pythia import micro_pythia_model
from mechcirc.models.micro_spec import MICRO_PYTHIA_ID, MicroPythiaSpec, load_spec
from mechcirc.models.names import normalize_revision, resolve_model_id
from mechcirc.models.pythia_shape import PYTHIA_VOCAB, TinyPythiaShape
from mechcirc.models.tokenizers import pythia_tokenizer

__all__ = [
    "DEFAULT_REVISIONS",
    "PYTHIA_VOCAB",
    "TinyPythiaShape",
    "build_offline_hub",
    "fake_commit_hash",
    "repo_folder",
    "revision_seed",
    "write_micro_pythia",
    "write_ref",
    "write_revision",
]

log = logging.getLogger(__name__)

DEFAULT_REVISIONS = ("step0", "step1000", "step143000")


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
    *,
    micro: bool | Sequence[str] = True,
) -> Path:
    """Write a hub cache under ``home/hub``: a tiny random ``model`` at every revision in
    ``revisions``, and the trained micro-Pythia (``mechcirc/micro-pythia``).

    ``micro``: ``True`` writes the micro-Pythia at every checkpoint, a sequence of revisions
    only those, ``False`` none. ``refs/main`` of the random model points at its last revision,
    as ``main`` is Pythia's final checkpoint (the micro-Pythia's: see ``write_micro_pythia``).
    Rebuilding is idempotent: a revision already in the cache is kept, and the same revision
    always gets the same weights. Revisions are checked and normalised as ``load_model`` does
    (``1000`` -> ``step1000``; ``step-5`` and unreleased Pythia steps are refused) before
    anything is written.

    Returns:
        ``home``, to be used as ``HF_HOME``.
    """
    if not revisions:
        raise ValueError("revisions must name at least one revision, e.g. ('step143000',)")
    home = Path(home)
    shape = shape or TinyPythiaShape()
    model_id = resolve_model_id(model)
    revisions = [normalize_revision(revision, model_id) for revision in revisions]
    tokenizer = pythia_tokenizer()
    for revision in revisions:
        write_revision(
            home,
            model_id,
            revision,
            fake_commit_hash(model_id, revision),
            lambda revision=revision: _random_model(shape, revision),
            tokenizer,
        )
    write_ref(home, model_id, "main", fake_commit_hash(model_id, revisions[-1]))
    record = {"model_id": model_id, "revisions": list(revisions), "shape": asdict(shape)}
    if micro:
        chosen = None if micro is True else list(micro)
        record["micro_pythia"] = {
            "model_id": MICRO_PYTHIA_ID,
            "revisions": list(write_micro_pythia(home, chosen, tokenizer=tokenizer)),
        }
    (home / "mechcirc-offline-hub.json").write_text(json.dumps(record, indent=2))
    return home


def write_micro_pythia(
    home: str | Path, revisions: Sequence[str | int] | None = None, *, tokenizer=None
) -> tuple[str, ...]:
    """Write the shipped micro-Pythia at ``revisions`` (default: every checkpoint) into the hub
    cache under ``home``, each expanded to the full vocabulary; returns the revisions written.
    ``refs/main`` points at the latest checkpoint in the cache (the last one, once written).

    Raises:
        ModelLoadError: for a revision that is not one of its checkpoints.
    """
    spec = load_spec()
    chosen = spec.revisions() if revisions is None else revisions
    chosen = tuple(normalize_revision(revision, MICRO_PYTHIA_ID) for revision in chosen)
    tokenizer = tokenizer or pythia_tokenizer()
    for revision in tqdm(chosen, desc="micro-pythia", unit="revision", disable=len(chosen) < 4):
        step = int(revision.removeprefix("step"))
        write_revision(
            home,
            MICRO_PYTHIA_ID,
            revision,
            micro_commit_hash(spec, revision),
            lambda step=step: micro_pythia_model(step),
            tokenizer,
        )
    # main: the latest checkpoint in the cache (TransformerLens re-loads the tokenizer from it).
    snapshots = repo_folder(home, MICRO_PYTHIA_ID) / "snapshots"
    present = [
        revision
        for revision in spec.revisions()
        if (snapshots / micro_commit_hash(spec, revision) / "model.safetensors").is_file()
    ]
    write_ref(home, MICRO_PYTHIA_ID, "main", micro_commit_hash(spec, present[-1]))
    return chosen


def micro_commit_hash(spec: MicroPythiaSpec, revision: str) -> str:
    """The micro-Pythia's commit per revision; new weights (a retrain) get new commits."""
    return fake_commit_hash(MICRO_PYTHIA_ID, f"{revision}#{spec.checkpoints_sha256}")


def write_revision(
    home: Path,
    model_id: str,
    revision: str,
    commit: str,
    make_model: Callable[[], PreTrainedModel],
    tokenizer,
) -> None:
    """Put ``make_model()`` and ``tokenizer`` at ``revision`` (commit ``commit``) of ``model_id``.

    A snapshot already present is kept; a new one is written beside its final name and renamed,
    so an interrupted build never leaves a half-written snapshot behind.
    """
    snapshot = repo_folder(home, model_id) / "snapshots" / commit
    if not (snapshot / "model.safetensors").is_file():
        log.info("building %s@%s in %s", model_id, revision, snapshot)
        partial = snapshot.with_name(commit + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        make_model().save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        shutil.rmtree(snapshot, ignore_errors=True)
        os.replace(partial, snapshot)
    write_ref(home, model_id, revision, commit)


def repo_folder(home: str | Path, model_id: str) -> Path:
    """``home/hub/models--owner--name``, as huggingface_hub lays out its cache."""
    return Path(home) / "hub" / ("models--" + model_id.replace("/", "--"))


def write_ref(home: str | Path, model_id: str, revision: str, commit: str) -> None:
    ref = repo_folder(home, model_id) / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)


def _random_model(shape: TinyPythiaShape, revision: str) -> GPTNeoXForCausalLM:
    with torch.random.fork_rng():  # leave the caller's random state as it was
        torch.manual_seed(revision_seed(revision))
        return GPTNeoXForCausalLM(shape.config())
