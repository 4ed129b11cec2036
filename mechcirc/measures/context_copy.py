"""In-context copy scores (Tigges et al. 2024, Sec. 4.1, after Wang et al. 2022).

On IOI prompts, the residual stream after block 0 (``blocks.0.hook_resid_post``) at the IO, S1
and S2 positions is passed through each head's OV circuit (``ln1``, ``W_V`` + ``b_V``, ``W_O``)
and unembedded (``ln_final``, ``W_U``), as if the head attended only to that position. A hit is
the token at that position (the IO name at IO, the subject at S1 and S2) among the top ``k = 5``
logits; the copy score is the fraction of hits over all prompts and the three positions.
Tigges et al. call heads with a copy score above 10% copy heads (name-mover candidates).

The negative copy score (``negative=True``) negates the head's output before unembedding: a
hit is the name among the top ``k`` of the *negated* logits, i.e. the head pushes the name
down (negative name movers).

Example:
    >>> score = context_copy_scores(model, tokens, positions)   # doctest: +SKIP
    >>> score.values[9, 9]                                        # e.g. 0.86
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.measures.result import HeadScore
from mechcirc.measures.weights import head_ov_output, normalise, pessimistic_rank
from mechcirc.models.protocol import HookedModel

__all__ = ["COPY_POSITIONS", "check_positions", "context_copy_scores"]

COPY_POSITIONS = ("io", "s1", "s2")


def check_positions(positions: Mapping[str, Tensor], needed: tuple[str, ...], n: int) -> None:
    """``UsageError`` unless ``positions`` has every name in ``needed`` as a ``[n]`` tensor."""
    missing = [name for name in needed if name not in positions]
    if missing:
        raise UsageError(
            f"these scores need token positions {needed} (the IOI task's); the prompts lack "
            f"{missing} (have {sorted(positions)})"
        )
    for name in needed:
        if tuple(positions[name].shape) != (n,):
            raise UsageError(f"positions[{name!r}] must be [batch] = ({n},)")


def _block0_residuals(model: HookedModel, tokens: Tensor, rows: Tensor, cols: Tensor, batch: int):
    """``blocks.0.hook_resid_post`` at (row, col) pairs, computed ``batch`` prompts at a time."""
    name = "blocks.0.hook_resid_post"
    out = []
    for start in range(0, len(tokens), batch):
        chunk = tokens[start : start + batch].to(model.W_U.device)
        _, cache = model.run_with_cache(chunk, names_filter=lambda n: n == name)
        keep = (rows >= start) & (rows < start + batch)
        out.append(cache[name][rows[keep] - start, cols[keep]])
    return torch.cat(out)


@torch.no_grad()
def context_copy_scores(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    positions: Mapping[str, Int[Tensor, " batch"]],
    *,
    k: int = 5,
    negative: bool = False,
    batch_size: int = 32,
) -> HeadScore:
    """The in-context (negative) copy score of every head (module docstring)."""
    if k < 1 or batch_size < 1:
        raise UsageError(f"k and batch_size must be positive integers, got {k}, {batch_size}")
    check_positions(positions, COPY_POSITIONS, len(tokens))
    n = len(tokens)
    rows = torch.arange(n).repeat(len(COPY_POSITIONS))
    cols = torch.cat([positions[name].cpu() for name in COPY_POSITIONS])
    resid = _block0_residuals(model, tokens, rows, cols, batch_size)
    targets = tokens[rows, cols].to(model.W_U.device)
    sign = -1.0 if negative else 1.0
    hits = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for start in range(0, len(resid), batch_size):
            out = sign * head_ov_output(model, layer, resid[start : start + batch_size])
            logits = normalise(model, out, None) @ model.W_U  # [chunk, heads, vocab]
            target = targets[start : start + batch_size]
            for head in range(model.cfg.n_heads):
                hits[layer, head] += (pessimistic_rank(logits[:, head], target) < k).sum().cpu()
    name = "negative_copy" if negative else "context_copy"
    config = {"k": k, "negative": negative, "n_prompts": n, "positions": list(COPY_POSITIONS)}
    return HeadScore(name, hits / len(targets), {"tokens": tokens.cpu()}, config)
