"""Pruning dangling edges, and which nodes a set of edges puts in the graph.

An in-graph edge ``s -> d`` is *dangling* when its source ``s`` is not ``input`` and has no
in-graph edge into any of its inputs (nothing reaches it from the input), or when no node
that ``d`` feeds has an in-graph outgoing edge and ``d`` is not ``logits`` (it reaches
nothing). Removing dangling edges can leave others dangling, so :func:`prune` repeats until
nothing changes. What is left is exactly the set of in-graph edges that lie on some in-graph
path from ``input`` to ``logits`` (the graph is acyclic). This is EAP-IG's ``Graph.prune``.

Example:
    >>> layout = GraphLayout(n_layers=1, n_heads=1, n_kv_heads=1, parallel_attn_mlp=False)
    >>> mask = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
    >>> mask[layout.src_index("a0.h0"), layout.logits_dst] = True  # nothing feeds a0.h0
    >>> int(prune(mask, layout).sum())
    0
"""

from __future__ import annotations

import torch
from jaxtyping import Bool
from torch import Tensor

from mechcirc.graph.layout import GraphLayout
from mechcirc.graph.topology import node_inputs

__all__ = ["nodes_in_graph", "prune"]


def _sources_fed(
    in_graph: Bool[Tensor, "n_src n_dst"], layout: GraphLayout
) -> Bool[Tensor, " n_src"]:
    """Sources with an in-graph edge into one of their inputs (``input`` counts as fed)."""
    dst_has_incoming = in_graph.any(dim=0)
    fed = (node_inputs(layout) & dst_has_incoming).any(dim=1)
    fed[0] = True
    return fed


def _destinations_used(
    in_graph: Bool[Tensor, "n_src n_dst"], layout: GraphLayout
) -> Bool[Tensor, " n_dst"]:
    """Destinations feeding a node with an in-graph outgoing edge (``logits`` counts as used)."""
    src_has_outgoing = in_graph.any(dim=1)
    used = (node_inputs(layout) & src_has_outgoing[:, None]).any(dim=0)
    used[layout.logits_dst] = True
    return used


def prune(
    in_graph: Bool[Tensor, "n_src n_dst"], layout: GraphLayout
) -> Bool[Tensor, "n_src n_dst"]:
    """A new mask without dangling edges (see the module docstring); ``in_graph`` is unchanged."""
    current = in_graph.clone()
    while True:
        keep = _sources_fed(current, layout)[:, None] & _destinations_used(current, layout)
        pruned = current & keep
        if torch.equal(pruned, current):
            return pruned
        current = pruned


def nodes_in_graph(
    in_graph: Bool[Tensor, "n_src n_dst"], layout: GraphLayout
) -> Bool[Tensor, " n_node"]:
    """Which nodes (sources in layout order, then ``logits``) are in the graph, as EAP-IG says.

    A source is in the graph when it has an in-graph outgoing edge and is fed (``input``
    always is); ``logits`` always is. On a pruned mask these are exactly the nodes touching
    an in-graph edge (plus ``logits``).
    """
    sources = in_graph.any(dim=1) & _sources_fed(in_graph, layout)
    return torch.cat([sources, torch.ones(1, dtype=torch.bool)])
