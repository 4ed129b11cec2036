"""Which destinations feed which node, and what kind each destination is.

A *node* is a source of the graph (``input``, ``a{L}.h{H}``, ``m{L}``) or ``logits``. Its
*inputs* are the destinations that read the residual stream on its behalf: ``m{L}`` reads
through ``m{L}``; head ``a{L}.h{H}`` through ``a{L}.h{H}<q>`` and the key and value inputs of
its KV head, ``a{L}.h{G}<k>`` / ``<v>`` with ``G = H // (n_heads // n_kv_heads)``; ``logits``
through ``logits``; ``input`` has none. With grouped-query attention one k/v destination thus
feeds ``n_heads // n_kv_heads`` query heads.

Example:
    >>> layout = GraphLayout(n_layers=1, n_heads=4, n_kv_heads=2, parallel_attn_mlp=False)
    >>> feeds = node_inputs(layout)
    >>> [layout.dst_names[d] for d in feeds[layout.head_src(0, 3)].nonzero().flatten()]
    ['a0.h3<q>', 'a0.h1<k>', 'a0.h1<v>']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from jaxtyping import Bool
from torch import Tensor

from mechcirc.graph.layout import DstKind, GraphLayout

__all__ = ["Destination", "destinations", "node_inputs", "node_names", "queries_per_kv_head"]


def queries_per_kv_head(layout: GraphLayout) -> int:
    """How many query heads share one KV head (1 without grouped-query attention)."""
    return layout.n_heads // layout.n_kv_heads


@cache
def node_inputs(layout: GraphLayout) -> Bool[Tensor, "n_src n_dst"]:
    """``[s, d]`` is True when destination ``d`` is an input of source node ``s``.

    The logits node is not a source; its only input is ``layout.logits_dst``.
    """
    feeds = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
    group = queries_per_kv_head(layout)
    for layer in range(layout.n_layers):
        q, k, v = (layout.qkv_dst(layer, kind) for kind in ("q", "k", "v"))
        for head in range(layout.n_heads):
            src = layout.head_src(layer, head)
            feeds[src, q.start + head] = True
            feeds[src, k.start + head // group] = True
            feeds[src, v.start + head // group] = True
        feeds[layout.mlp_src(layer), layout.mlp_dst(layer)] = True
    return feeds


@dataclass(frozen=True)
class Destination:
    """What a destination index reads for: its kind, layer and head (query or KV head)."""

    kind: DstKind
    layer: int
    head: int | None  # query head for q, KV head for k/v, None for mlp and logits


@cache
def destinations(layout: GraphLayout) -> tuple[Destination, ...]:
    """One :class:`Destination` per destination index, in layout order."""
    found: list[Destination | None] = [None] * layout.n_dst
    for layer in range(layout.n_layers):
        for kind in ("q", "k", "v"):
            block = layout.qkv_dst(layer, kind)
            for offset, dst in enumerate(range(block.start, block.stop)):
                found[dst] = Destination(kind, layer, offset)
        found[layout.mlp_dst(layer)] = Destination("mlp", layer, None)
    found[layout.logits_dst] = Destination("logits", layout.n_layers, None)
    return tuple(d for d in found if d is not None)


def node_names(layout: GraphLayout) -> list[str]:
    """Every node in EAP-IG order: the sources, then ``logits``."""
    return [*layout.src_names, "logits"]
