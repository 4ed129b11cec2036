"""Attention from the final token to the IOI names (Wang et al. 2022; Tigges et al. 2024).

A name mover attends from the final token (``end``) to the indirect object (IO) more than to
either mention of the subject (S1, S2). :func:`attention_to_names` measures, over the prompts,
the mean attention of every head from ``end`` to ``io``, to ``s1`` and to ``s2`` separately
(Tigges et al.'s rule compares IO with each); :func:`name_mover_scores` adds mechcirc's earlier
summary ``name_mover = attn_io - (attn_s1 + attn_s2)``.

Example:
    >>> scores = name_mover_scores(model, tokens, positions)   # doctest: +SKIP
    >>> scores["attn_io"].values[9, 9], scores["attn_s1"].values[9, 9]
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.measures.context_copy import check_positions
from mechcirc.measures.result import HeadScore
from mechcirc.models.protocol import HookedModel

__all__ = ["NEEDED_POSITIONS", "attention_to_names", "mean_attention", "name_mover_scores"]

NEEDED_POSITIONS = ("io", "s1", "s2", "end")


@torch.no_grad()
def mean_attention(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    query: Int[Tensor, " batch"],
    keys: Mapping[str, Int[Tensor, " batch"]],
    *,
    batch_size: int = 32,
) -> dict[str, Tensor]:
    """Mean attention of every head from ``query[i]`` to ``keys[name][i]``: ``[layers, heads]``
    per key name, averaged over the prompts."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    totals = {key: torch.zeros(n_layers, n_heads, dtype=torch.float64) for key in keys}
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(n_layers)]
    device = model.W_U.device
    for start in range(0, len(tokens), batch_size):
        chunk = tokens[start : start + batch_size].to(device)
        _, cache = model.run_with_cache(chunk, names_filter=lambda name: name in names)
        rows = torch.arange(len(chunk), device=device)
        q = query[start : start + batch_size].to(device)
        for layer, hook_name in enumerate(names):
            from_query = cache[hook_name][rows, :, q]  # [b, head, key]
            for key, pos in keys.items():
                k = pos[start : start + batch_size].to(device)
                totals[key][layer] += from_query[rows, :, k].double().sum(0).cpu()
    return {key: (total / len(tokens)).float() for key, total in totals.items()}


def attention_to_names(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    positions: Mapping[str, Int[Tensor, " batch"]],
    *,
    batch_size: int = 32,
) -> dict[str, HeadScore]:
    """``attn_io``, ``attn_s1`` and ``attn_s2``: mean attention from ``end`` to each name."""
    check_positions(positions, NEEDED_POSITIONS, len(tokens))
    keys = {name: positions[name] for name in ("io", "s1", "s2")}
    means = mean_attention(model, tokens, positions["end"], keys, batch_size=batch_size)
    config = {"n_prompts": len(tokens), "query": "end"}
    inputs = {"tokens": tokens.cpu()}
    return {f"attn_{k}": HeadScore(f"attn_{k}", v, inputs, config) for k, v in means.items()}


def name_mover_scores(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    positions: Mapping[str, Int[Tensor, " batch"]],
    *,
    batch_size: int = 32,
) -> dict[str, HeadScore]:
    """:func:`attention_to_names` plus ``name_mover = attn_io - (attn_s1 + attn_s2)``."""
    scores = attention_to_names(model, tokens, positions, batch_size=batch_size)
    io, s1, s2 = (scores[f"attn_{k}"] for k in ("io", "s1", "s2"))
    summary = HeadScore("name_mover", io.values - s1.values - s2.values, io.inputs, io.config)
    return {"name_mover": summary, **scores}
