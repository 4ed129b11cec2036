"""Choosing the edges of a circuit from its scores: top-n, threshold, greedy growth.

Every function ranks only real edges (``layout.real_edges``) and returns a new boolean mask;
``absolute=True`` ranks by ``|score|``, ``absolute=False`` by the signed score (highest
first). Ties are broken by index order, so results are deterministic.

Greedy growth follows hannamw/EAP-IG's ``apply_greedy``: start from ``logits``; the candidates
are the edges into the inputs of nodes already in the graph; repeatedly take the best
candidate; when its source enters the graph, the edges into that source's inputs become
candidates. With grouped-query attention a k/v destination ``a{L}.h{G}<k>`` becomes reachable
once any query head of KV group ``G`` is in the graph (see :mod:`mechcirc.graph.topology`).
The order in which edges are taken does not depend on ``n``, so :func:`greedy_order`
computes it once and any ``n`` is a prefix.

Example:
    >>> layout = GraphLayout(n_layers=1, n_heads=2, n_kv_heads=2, parallel_attn_mlp=True)
    >>> scores = torch.randn(layout.n_src, layout.n_dst) * layout.real_edges
    >>> int(top_n(scores, layout, n=3).sum())
    3
"""

from __future__ import annotations

import heapq
import math
import numbers

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.graph.layout import GraphLayout
from mechcirc.graph.pruning import prune
from mechcirc.graph.topology import node_inputs

__all__ = ["above_threshold", "check_edge_count", "greedy", "greedy_order", "top_n"]


def _ranking_keys(
    scores: Float[Tensor, "n_src n_dst"], layout: GraphLayout, absolute: bool
) -> Float[Tensor, "n_src n_dst"]:
    """Higher is better; non-edges get -inf so they sort last."""
    keys = scores.abs() if absolute else scores.clone()
    return keys.masked_fill(~layout.real_edges, -math.inf)


def check_edge_count(n: object, layout: GraphLayout) -> int:
    """``n`` (any integer type) as an int in ``0..layout.n_edges``, else a UsageError."""
    count = None if isinstance(n, bool) or not isinstance(n, numbers.Integral) else int(n)
    if count is None or not 0 <= count <= layout.n_edges:
        raise UsageError(
            f"n must be an integer edge count in 0..{layout.n_edges} (the graph's real edges),"
            f" got {n!r}"
        )
    return count


def top_n(
    scores: Float[Tensor, "n_src n_dst"], layout: GraphLayout, n: int, absolute: bool = True
) -> Bool[Tensor, "n_src n_dst"]:
    """The ``n`` best real edges."""
    n = check_edge_count(n, layout)
    keys = _ranking_keys(scores, layout, absolute).flatten()
    order = torch.sort(keys, descending=True, stable=True).indices[:n]
    mask = torch.zeros(keys.numel(), dtype=torch.bool)
    mask[order] = True
    return mask.view(layout.n_src, layout.n_dst)


def above_threshold(
    scores: Float[Tensor, "n_src n_dst"],
    layout: GraphLayout,
    threshold: float,
    absolute: bool = True,
) -> Bool[Tensor, "n_src n_dst"]:
    """Real edges with ``|score| >= threshold`` (or ``score >= threshold`` when signed)."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise UsageError(f"threshold must be a number, got {threshold!r}")
    if math.isnan(threshold):
        raise UsageError("threshold must be a number, got nan")
    return _ranking_keys(scores, layout, absolute) >= float(threshold)


def greedy_order(
    scores: Float[Tensor, "n_src n_dst"], layout: GraphLayout, absolute: bool = True
) -> Int[Tensor, "n_edges 2"]:
    """Every real edge as ``(src, dst)``, in the order greedy growth from ``logits`` takes them.

    Each destination's incoming edges are sorted once; a heap holds the best remaining edge of
    every reachable destination (as EAP-IG merges sorted candidate lists).
    """
    keys = _ranking_keys(scores, layout, absolute)
    n_real = layout.real_edges.sum(dim=0).tolist()
    ranked = torch.sort(keys, dim=0, descending=True, stable=True)
    ranked_src, ranked_key = ranked.indices.T.tolist(), ranked.values.T.tolist()
    feeds = [row.nonzero().flatten().tolist() for row in node_inputs(layout)]
    heap: list[tuple[float, int, int]] = []  # (-key, dst, rank within dst)

    def reach(dst: int) -> None:
        heapq.heappush(heap, (-ranked_key[dst][0], dst, 0))

    reach(layout.logits_dst)
    reachable = {layout.logits_dst}
    in_graph_nodes: set[int] = set()
    order: list[tuple[int, int]] = []
    while heap:
        _, dst, rank = heapq.heappop(heap)
        src = ranked_src[dst][rank]
        order.append((src, dst))
        if rank + 1 < n_real[dst]:
            heapq.heappush(heap, (-ranked_key[dst][rank + 1], dst, rank + 1))
        if src not in in_graph_nodes:
            in_graph_nodes.add(src)
            for new_dst in feeds[src]:
                if new_dst not in reachable:
                    reachable.add(new_dst)
                    reach(new_dst)
    return torch.tensor(order, dtype=torch.long).view(-1, 2)


def _prefix_mask(order: Int[Tensor, "n_edges 2"], length: int, layout: GraphLayout) -> Tensor:
    mask = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
    taken = order[:length]
    mask[taken[:, 0], taken[:, 1]] = True
    return mask


def greedy(
    order: Int[Tensor, "n_edges 2"], layout: GraphLayout, n: int, prune_after: bool = True
) -> Bool[Tensor, "n_src n_dst"]:
    """The greedy circuit with ``n`` edges, from a precomputed :func:`greedy_order`.

    Without pruning: the first ``n`` edges taken (EAP-IG's ``apply_greedy(n, prune=False)``).
    With pruning, growth continues past ``n`` taken edges so that the *pruned* circuit has
    ``n`` edges: the result is the pruned graph of the longest prefix whose pruned graph has
    at most ``n`` edges. It has exactly ``n`` edges unless one greedy step connects several
    pending edges to the input at once and jumps past ``n`` (then fewer). EAP-IG instead
    prunes the first ``n`` taken edges, which usually leaves fewer than ``n``.
    """
    n = check_edge_count(n, layout)
    if not prune_after:
        return _prefix_mask(order, n, layout)
    # The pruned size of a prefix never shrinks as the prefix grows: binary search.
    low, high = n, order.shape[0]  # a prefix of length n prunes to at most n edges
    while low < high:
        middle = (low + high + 1) // 2
        if int(prune(_prefix_mask(order, middle, layout), layout).sum()) <= n:
            low = middle
        else:
            high = middle - 1
    return prune(_prefix_mask(order, low, layout), layout)
