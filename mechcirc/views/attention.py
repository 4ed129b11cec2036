"""Attention views of a model on prompts: which heads, which prompts, one view each.

Example:
    >>> views = attention_views(model, ["When Mary and John went to the store"], layer=0)
    >>> write_attention_page("attention.html", views)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mechcirc.errors import UsageError
from mechcirc.views.html_page import AttentionView

__all__ = ["attention_views", "select_heads"]


def select_heads(model, layer: int | None = None, head: int | None = None) -> list[tuple[int, int]]:
    """``(layer, head)`` pairs: every head, one layer's, one head in every layer, or one head."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    if layer is not None and not 0 <= layer < n_layers:
        raise UsageError(f"layer must be in 0..{n_layers - 1}, got {layer}")
    if head is not None and not 0 <= head < n_heads:
        raise UsageError(f"head must be in 0..{n_heads - 1}, got {head}")
    layers = range(n_layers) if layer is None else [layer]
    heads = range(n_heads) if head is None else [head]
    return [(lay, h) for lay in layers for h in heads]


def _str_tokens(model, tokens: torch.Tensor) -> list[str]:
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        return [str(int(t)) for t in tokens]
    return [tokenizer.decode([int(t)]) for t in tokens]


@torch.no_grad()
def attention_views(
    model, prompts: Sequence[str], heads: Sequence[tuple[int, int]] | None = None, *, layer=None
) -> list[AttentionView]:
    """One view per prompt showing ``heads`` (default: every head, or all of ``layer``'s)."""
    if not prompts:
        raise UsageError("give at least one prompt")
    heads = list(heads) if heads is not None else select_heads(model, layer)
    hook_names = {f"blocks.{lay}.attn.hook_pattern" for lay, _ in heads}
    views = []
    for prompt in prompts:
        tokens = model.to_tokens(prompt)
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in hook_names)
        patterns = torch.stack([cache[f"blocks.{lay}.attn.hook_pattern"][0, h] for lay, h in heads])
        names = [f"L{lay}H{h}" for lay, h in heads]
        views.append(AttentionView(prompt, _str_tokens(model, tokens[0]), patterns, names))
    return views
