"""Induction, previous-token and duplicate-token scores from attention on repeated tokens.

Data: ``[BOS] r_0 .. r_{n-1} r_0 .. r_{n-1}`` with ``r`` uniform random non-special tokens
(Olsson et al. 2022) that the model has an embedding for: tokens whose input embedding row is
exactly zero (never trained, such as every token outside the micro-Pythia's corpus) carry no
identity for a head to match, so they are left out. With ``f`` the index of ``r_0`` (1 with
BOS, else 0), a head's

- previous-token score is its mean attention from each position ``p > f`` to ``p - 1``;
- duplicate-token score is its mean attention from ``f + n + i`` (second copy of ``r_i``) to
  ``f + i`` (the first copy);
- induction score is its mean attention from ``f + n + i`` to ``f + i + 1`` (the token that
  followed the first copy).

Means are over all sequences and those positions, accumulated per sequence, so the scores do
not depend on ``batch_size``.

Example:
    >>> data = RepeatedTokens(half_len=20, n_sequences=16, seed=0)
    >>> scores = attention_scores(model, data)          # doctest: +SKIP
    >>> scores["induction"].values.shape                 # [n_layers, n_heads]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.errors import UsageError
from mechcirc.measures.result import HeadScore

__all__ = ["PATTERN_SCORES", "RepeatedTokens", "attention_scores", "repeated_tokens"]

PATTERN_SCORES = ("induction", "previous_token", "duplicate_token")


@dataclass(frozen=True)
class RepeatedTokens:
    """How the repeated random-token batch is drawn."""

    half_len: int = 20
    n_sequences: int = 32
    seed: int = 0
    prepend_bos: bool | None = None  # None: the model's default (cfg.default_prepend_bos)

    def __post_init__(self) -> None:
        if self.half_len < 2 or self.n_sequences < 1:
            raise UsageError(
                "RepeatedTokens needs half_len >= 2 and n_sequences >= 1, got "
                f"half_len={self.half_len}, n_sequences={self.n_sequences}"
            )


def candidate_tokens(model) -> Int[Tensor, " n"]:
    """Token ids to sample from: the tokenizer's vocabulary without special tokens and
    without tokens whose input embedding is all zero."""
    tokenizer = getattr(model, "tokenizer", None)
    high = model.cfg.d_vocab if tokenizer is None else min(model.cfg.d_vocab, len(tokenizer))
    keep = torch.ones(high, dtype=torch.bool)
    if tokenizer is not None:
        special = [i for i in tokenizer.all_special_ids if i < high]
        keep[special] = False
    embedding = getattr(model, "W_E", None)
    if embedding is not None:
        with torch.no_grad():
            keep &= (embedding[:high] != 0).any(-1).cpu()
    return keep.nonzero().flatten()


def bos_token(model, prepend_bos: bool | None) -> int | None:
    tokenizer = getattr(model, "tokenizer", None)
    bos = getattr(tokenizer, "bos_token_id", None)
    if prepend_bos is None:
        prepend_bos = bool(getattr(model.cfg, "default_prepend_bos", False))
    if prepend_bos and bos is None:
        raise UsageError("prepend_bos=True needs a tokenizer with a BOS token; this model has none")
    return bos if prepend_bos else None


def repeated_tokens(model, data: RepeatedTokens) -> Int[Tensor, "n_sequences seq"]:
    """The batch ``[BOS] r r`` described in the module docstring (seeded, on CPU)."""
    generator = torch.Generator().manual_seed(data.seed)
    pool = candidate_tokens(model)
    picks = torch.randint(len(pool), (data.n_sequences, data.half_len), generator=generator)
    half = pool[picks]
    tokens = torch.cat([half, half], dim=1)
    bos = bos_token(model, data.prepend_bos)
    if bos is not None:
        tokens = torch.cat([torch.full((data.n_sequences, 1), bos), tokens], dim=1)
    return tokens


def diagonal_mass(
    pattern: Float[Tensor, "batch head q k"], queries: Tensor, keys: Tensor
) -> Float[Tensor, " head"]:
    """Attention from each ``queries[i]`` to ``keys[i]``, summed over batch and i."""
    return pattern[:, :, queries, keys].double().sum(dim=(0, 2))


@torch.no_grad()
def attention_scores(
    model, data: RepeatedTokens | None = None, *, batch_size: int = 16, progress: bool = False
) -> dict[str, HeadScore]:
    """Induction, previous-token and duplicate-token scores of every head, from one pass."""
    data = data or RepeatedTokens()
    if batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size}")
    tokens = repeated_tokens(model, data)
    first = tokens.shape[1] - 2 * data.half_len
    n = data.half_len
    idx = torch.arange(n)
    diagonals = {
        "previous_token": (
            torch.arange(first + 1, first + 2 * n),
            torch.arange(first, first + 2 * n - 1),
        ),
        "duplicate_token": (first + n + idx, first + idx),
        "induction": (first + n + idx, first + idx + 1),
    }
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    totals = {name: torch.zeros(n_layers, n_heads, dtype=torch.float64) for name in diagonals}
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(n_layers)]
    device = model.W_U.device
    for start in tqdm(range(0, len(tokens), batch_size), disable=not progress, desc="patterns"):
        batch = tokens[start : start + batch_size].to(device)
        _, cache = model.run_with_cache(batch, names_filter=lambda name: name in names)
        for layer, hook_name in enumerate(names):
            pattern = cache[hook_name]
            for score, (queries, keys) in diagonals.items():
                totals[score][layer] += diagonal_mass(pattern, queries, keys).cpu()
    config = {"data": asdict(data), "first_token_index": first}
    return {
        name: HeadScore(
            name,
            (totals[name] / (len(tokens) * len(diagonals[name][0]))).float(),
            {"tokens": tokens},
            config,
        )
        for name in PATTERN_SCORES
    }
