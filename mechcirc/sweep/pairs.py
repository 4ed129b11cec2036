"""The prompt pairs of a sweep: generated once, stored as ``pairs/<task>.jsonl``, read by every
unit, so every model and checkpoint sees identical prompts.

Pairs are token ids, so every model of a sweep must share one tokenizer (the Pythia sizes do).
The tokenizer is read from the hub cache before any unit runs, and its fingerprint (a hash of
its vocabulary and special tokens) is recorded; a unit whose model tokenizes differently fails
with a message saying so instead of analysing the wrong prompts.

Example:
    >>> tokenizer = sweep_tokenizer(plan)                 # doctest: +SKIP
    >>> write_pairs(sweep_dir, plan, tokenizer)           # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mechcirc.errors import MechcircError, ModelLoadError, UsageError
from mechcirc.models.names import resolve_model_id
from mechcirc.models.protocol import Tokenizer
from mechcirc.sweep.plan import SweepPlan, task_label
from mechcirc.tasks import PromptPairs, load_pairs, read_jsonl, write_jsonl
from mechcirc.tasks.tokens import pad_id

__all__ = [
    "pairs_path",
    "read_pairs",
    "sweep_tokenizer",
    "tokenizer_fingerprint",
    "write_pairs",
]


def pairs_path(sweep_dir: Path, task: str) -> Path:
    return Path(sweep_dir) / "pairs" / f"{task_label(task)}.jsonl"


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """A hash of the vocabulary and special tokens: equal fingerprints tokenize alike."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = sorted(tokenizer.all_special_ids)
    text = json.dumps([vocab, special, pad_id(tokenizer)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _model_tokenizer(model: str, revisions: list[str]) -> Tokenizer:
    from transformers import AutoTokenizer

    model_id, errors = resolve_model_id(model), []
    for revision in revisions:
        try:
            return AutoTokenizer.from_pretrained(model_id, revision=revision)
        except (OSError, ValueError) as err:
            errors.append(f"{revision}: {str(err).splitlines()[0] if str(err) else err}")
    raise ModelLoadError(
        f"could not load the tokenizer of {model_id} at any of its revisions "
        f"({'; '.join(errors[:3])}); download at least one revision into the hub cache"
    )


def sweep_tokenizer(plan: SweepPlan) -> tuple[Tokenizer, str]:
    """The tokenizer every model of ``plan`` shares, and its fingerprint.

    Raises:
        UsageError: when two models tokenize differently (name them; run separate sweeps).
    """
    chosen, fingerprints = None, {}
    for model in plan.models:
        tokenizer = _model_tokenizer(model, plan.revisions[model])
        fingerprints[model] = tokenizer_fingerprint(tokenizer)
        chosen = chosen or tokenizer
    if len(set(fingerprints.values())) > 1:
        listed = ", ".join(f"{m} ({f})" for m, f in fingerprints.items())
        raise UsageError(
            f"the models of a sweep must share a tokenizer so that every unit sees identical "
            f"prompts; these differ: {listed}. Run one sweep per tokenizer."
        )
    return chosen, fingerprints[plan.models[0]]


def write_pairs(sweep_dir: Path, plan: SweepPlan, tokenizer: Tokenizer) -> list[Path]:
    """Generate each task's pairs (``plan.n``, ``plan.seed``) unless already stored."""
    written = []
    for task in plan.tasks:
        path = pairs_path(sweep_dir, task)
        if not path.is_file():
            pairs = load_pairs(task, tokenizer, n=plan.n, seed=plan.seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            os.replace(write_jsonl(pairs, partial), path)
        written.append(path)
    return written


def read_pairs(sweep_dir: Path, plan: SweepPlan, tokenizer: Tokenizer) -> dict[str, PromptPairs]:
    """Every task's stored pairs, padded with ``tokenizer``'s padding id."""
    found = {}
    for task in plan.tasks:
        path = pairs_path(sweep_dir, task)
        if not path.is_file():
            raise MechcircError(f"{path} is missing: the sweep's prompt pairs were removed")
        found[task] = read_jsonl(path, padding_id=pad_id(tokenizer))
    return found
