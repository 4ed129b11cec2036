"""Copy and successor scores from a head's OV circuit alone (no prompt context).

- Copy score, weights only (Wang et al. 2022's check, mechcirc's earlier default): each token's
  layer-0 representation (``layer0_representation``) through the head's OV circuit (``ln1``,
  ``W_V`` + ``b_V``, ``W_O``) and the unembedding (``ln_final``, ``W_U``); the fraction of the
  tokens (IOI names by default) that are among the top ``k = 5`` of all ``d_vocab`` logits.
  Tigges et al. (2024) use the in-context variant instead:
  :func:`mechcirc.measures.context_copy.context_copy_scores`.
- Successor ("succession") score, as Gould et al. (2023, "Successor Heads") define it and
  Tigges et al. (2024, Sec. 3.2) use it: the effective token embedding ``MLP0(W_E)``, the head's
  OV circuit ``W_V W_O`` and the unembedding ``W_U`` (``definition="gould"``, the default). For
  each member of an ordinal sequence (numbers, days, months, ...), a hit when its successor has
  the highest logit among the sequence's targets; the score is the fraction of hits.
  ``definition="layer0"`` reads the layer-0 representation through ``ln1``/``ln_final`` instead
  (mechcirc's earlier variant).

Ranks are pessimistic: a tie with the target counts against it, so a head that writes nothing
scores 0, never "in the top 5 by tie-breaking" (Gould et al.'s code counts ties as hits).

Example:
    >>> copy = copy_scores(model, names)        # doctest: +SKIP
    >>> copy.values.shape                        # [n_layers, n_heads], values in [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.measures.result import HeadScore
from mechcirc.measures.weights import (
    effective_embedding,
    expand_kv,
    head_ov_logits,
    layer0_representation,
    pessimistic_rank,
)
from mechcirc.models.protocol import HookedModel

__all__ = ["SUCCESSOR_DEFINITIONS", "check_token_ids", "copy_scores", "successor_scores"]

SUCCESSOR_DEFINITIONS = ("gould", "layer0")


def check_token_ids(model: HookedModel, tokens: Tensor, what: str) -> None:
    """``UsageError`` unless ``tokens`` is a non-empty 1-d tensor of ids in the vocabulary."""
    if tokens.ndim != 1 or tokens.numel() == 0:
        raise UsageError(
            f"{what} must be a non-empty 1-d tensor of token ids, got {tuple(tokens.shape)}"
        )
    if int(tokens.min()) < 0 or int(tokens.max()) >= model.cfg.d_vocab:
        raise UsageError(f"{what} must be token ids in 0..{model.cfg.d_vocab - 1}")


def _check_k(k: int) -> None:
    if k < 1:
        raise UsageError(f"k must be a positive integer, got {k}")


@torch.no_grad()
def copy_scores(model: HookedModel, tokens: Int[Tensor, " n"], *, k: int = 5) -> HeadScore:
    """Fraction of ``tokens`` each head's OV circuit puts in its top-``k`` logits."""
    _check_k(k)
    check_token_ids(model, tokens, "tokens")
    tokens = tokens.to(model.W_U.device)
    resid = layer0_representation(model, tokens)
    values = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        logits = head_ov_logits(model, layer, resid)  # [n, heads, vocab]
        for head in range(model.cfg.n_heads):
            hits = pessimistic_rank(logits[:, head], tokens) < k
            values[layer, head] = hits.float().mean().cpu()
    return HeadScore("copy", values, {"tokens": tokens.cpu()}, {"k": k, "variant": "weights"})


def gould_ov_logits(
    model: HookedModel, layer: int, embedded: Float[Tensor, "n d_model"]
) -> Float[Tensor, "n n_heads d_vocab"]:
    """``embedded @ W_V W_O @ W_U`` per head of ``layer``: Gould et al.'s OV circuit (no norms,
    no biases)."""
    w_v = expand_kv(model, model.W_V[layer], head_dim=0)  # [heads, d_model, d_head]
    values = torch.einsum("nm,hme->nhe", embedded, w_v)
    return torch.einsum("nhe,hem->nhm", values, model.W_O[layer]) @ model.W_U


@torch.no_grad()
def successor_scores(
    model: HookedModel,
    sequences: Sequence[Int[Tensor, " m"]],
    *,
    k: int = 1,
    definition: Literal["gould", "layer0"] = "gould",
) -> HeadScore:
    """Fraction of sequence members whose successor is each head's top-``k`` among the
    sequence's targets (module docstring; ``sequences`` are token ids in order)."""
    _check_k(k)
    if definition not in SUCCESSOR_DEFINITIONS:
        raise UsageError(f"definition must be one of {SUCCESSOR_DEFINITIONS}, got {definition!r}")
    sequences = list(sequences)
    if not sequences or any(_n_pairs(seq) < 1 for seq in sequences):
        raise UsageError(
            "successor scores need sequences with at least one pair of consecutive token ids "
            "(-1 marks a member that is not a single token)"
        )
    for seq in sequences:
        check_token_ids(model, seq[seq >= 0], "each sequence")
    hits = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    total = 0
    for seq in sequences:
        hits += _sequence_hits(model, seq.to(model.W_U.device), k, definition)
        total += _n_pairs(seq)
    inputs = {f"sequence_{i}": seq.cpu() for i, seq in enumerate(sequences)}
    config = {"k": k, "n_sequences": len(sequences), "definition": definition}
    return HeadScore("successor", hits / total, inputs, config)


def _n_pairs(seq: Tensor) -> int:
    return int(((seq[:-1] >= 0) & (seq[1:] >= 0)).sum()) if seq.ndim == 1 else 0


def _sequence_hits(model: HookedModel, seq: Tensor, k: int, definition: str) -> Tensor:
    """Hits per head on one sequence: the successor of ``seq[i]`` is ``seq[i + 1]`` (pairs
    with a ``-1`` member are skipped); the targets are the sequence's valid successors."""
    valid = (seq[:-1] >= 0) & (seq[1:] >= 0)
    inputs, succ = seq[:-1][valid], seq[1:][valid]
    targets = succ.unique()  # a cyclic sequence repeats its first member at the end
    successor = (succ[:, None] == targets[None]).int().argmax(-1)  # index among the targets
    if definition == "gould":
        embedded = effective_embedding(model, inputs)
    else:
        embedded = layer0_representation(model, inputs)
    hits = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        if definition == "gould":
            logits = gould_ov_logits(model, layer, embedded)[..., targets]
        else:
            logits = head_ov_logits(model, layer, embedded)[..., targets]
        for head in range(model.cfg.n_heads):
            hits[layer, head] = (pessimistic_rank(logits[:, head], successor) < k).sum().cpu()
    return hits
