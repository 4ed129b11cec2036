"""What a circuit drawing shows and how edges look; shared by the SVG and Graphviz renderers.

Colour encodes what the destination reads for (a head's query, key or value input, an MLP,
the logits); the sign of the score is solid (positive) or dashed (negative); the width grows
with ``|score|`` relative to the largest drawn edge.

Example:
    >>> edges, caption = drawn_edges(graph)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from mechcirc.errors import UsageError
from mechcirc.graph.topology import Destination, destinations

__all__ = [
    "DASH_NEGATIVE",
    "DrawnEdge",
    "KIND_COLOURS",
    "KIND_LABELS",
    "drawn_edges",
    "edge_width",
    "largest_score",
]

if TYPE_CHECKING:
    from mechcirc.graph.circuit import CircuitGraph

KIND_COLOURS = {
    "q": "#2b6cb0",
    "k": "#2f855a",
    "v": "#c05621",
    "mlp": "#6b46c1",
    "logits": "#4a5568",
}
KIND_LABELS = {
    "q": "query input",
    "k": "key input",
    "v": "value input",
    "mlp": "MLP input",
    "logits": "logits",
}
DASH_NEGATIVE = "6,4"
MIN_WIDTH, MAX_WIDTH = 0.6, 6.0


@dataclass(frozen=True)
class DrawnEdge:
    src: int
    dst: int
    score: float
    name: str
    target: Destination

    @property
    def colour(self) -> str:
        return KIND_COLOURS[self.target.kind]

    @property
    def negative(self) -> bool:
        return self.score < 0


def drawn_edges(graph: CircuitGraph, top_when_empty: int = 50) -> tuple[list[DrawnEdge], str]:
    """The edges to draw, weakest first (so strong edges are drawn on top), and a caption.

    These are the in-graph edges; when the circuit is empty, the ``top_when_empty`` real edges
    with the largest nonzero ``|score|``.
    """
    if (
        isinstance(top_when_empty, bool)
        or not isinstance(top_when_empty, int)
        or top_when_empty < 0
    ):
        raise UsageError(f"top_when_empty must be an integer >= 0, got {top_when_empty!r}")
    layout = graph.layout
    if graph.n_edges_in_graph:
        mask = graph.in_graph
        caption = f"{graph.n_edges_in_graph} of {layout.n_edges} edges in the circuit"
    else:
        magnitude = graph.scores.abs().flatten()
        count = min(top_when_empty, int((magnitude > 0).sum()))
        mask = torch.zeros_like(magnitude, dtype=torch.bool)
        mask[torch.sort(magnitude, descending=True, stable=True).indices[:count]] = True
        mask = mask.view_as(graph.in_graph)
        caption = f"no circuit selected: top {count} of {layout.n_edges} edges by |score|"
    src, dst = mask.nonzero(as_tuple=True)
    values = graph.scores[src, dst]
    order = torch.sort(values.abs(), stable=True).indices.tolist()
    targets = destinations(layout)
    src_list, dst_list, score_list = src.tolist(), dst.tolist(), values.tolist()
    edges = [
        DrawnEdge(
            src_list[i],
            dst_list[i],
            score_list[i],
            layout.edge_name(src_list[i], dst_list[i]),
            targets[dst_list[i]],
        )
        for i in order
    ]
    return edges, caption


def edge_width(score: float, largest: float) -> float:
    """Stroke width from ``MIN_WIDTH`` to ``MAX_WIDTH``, linear in ``|score| / largest``."""
    if largest <= 0:
        return MIN_WIDTH
    return MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * abs(score) / largest


def largest_score(edges: list[DrawnEdge]) -> float:
    return max((abs(edge.score) for edge in edges), default=0.0)
