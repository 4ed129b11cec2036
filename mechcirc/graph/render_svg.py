"""A layered SVG drawing of a circuit, with no compiled dependency (no Graphviz).

Rows from bottom to top: ``input``, one row per layer (its heads, then its MLP), ``logits``.
In models whose MLP reads its own layer's attention (not parallel), ``m{L}`` sits half a row
above its heads so those edges are visible. Edges run from the top of the source to a port at
the bottom of the destination: a head's q, k and v ports from left to right. With grouped-query
attention, the k/v ports of KV head ``G`` are a small marker under its query heads, joined to
them by thin grey lines. Colour, dash and width follow :mod:`mechcirc.graph.render_style`; each
edge is one ``<path class="edge ...">`` with a ``<title>`` tooltip (name and score).

Example:
    >>> svg = circuit_svg(graph.select("topn", n=20), title="IOI, step 143000")  # doctest: +SKIP
    >>> Path("circuit.svg").write_text(svg)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from mechcirc.graph.layout import GraphLayout
from mechcirc.graph.render_style import (
    DASH_NEGATIVE,
    KIND_COLOURS,
    KIND_LABELS,
    DrawnEdge,
    drawn_edges,
    edge_width,
    largest_score,
)
from mechcirc.graph.topology import Destination, queries_per_kv_head

__all__ = ["Geometry", "PORT_SPREAD", "circuit_svg"]

if TYPE_CHECKING:
    from mechcirc.graph.circuit import CircuitGraph

COLUMN, ROW = 84.0, 100.0
NODE_W, NODE_H = 64.0, 26.0
MARGIN, HEADER, LEGEND_W = 30.0, 40.0, 210.0
PORT_SPREAD = 16.0  # horizontal distance between a head's q, k and v ports


@dataclass(frozen=True)
class Geometry:
    """Node centres and destination ports of one layout."""

    layout: GraphLayout

    @property
    def plot_width(self) -> float:
        return (self.layout.n_heads + 1) * COLUMN

    @property
    def width(self) -> float:
        return 2 * MARGIN + self.plot_width + LEGEND_W

    @property
    def height(self) -> float:
        return 2 * MARGIN + HEADER + (self.layout.n_layers + 1) * ROW + NODE_H

    def row_y(self, row: int) -> float:
        """Centre y of row ``row`` (0 = input, n_layers + 1 = logits)."""
        return MARGIN + HEADER + (self.layout.n_layers + 1 - row) * ROW + NODE_H / 2

    def column_x(self, column: float) -> float:
        return MARGIN + (column + 0.5) * COLUMN

    def node_centre(self, name: str, layer: int, head: int | None) -> tuple[float, float]:
        """Centre of ``input``, ``logits``, a head (``head`` given) or an MLP."""
        if name in ("input", "logits"):
            row = 0 if name == "input" else self.layout.n_layers + 1
            return MARGIN + self.plot_width / 2, self.row_y(row)
        y = self.row_y(layer + 1)
        if head is not None:
            return self.column_x(head), y
        lift = 0.0 if self.layout.parallel_attn_mlp else 0.4 * ROW
        return self.column_x(self.layout.n_heads), y - lift

    def source_centre(self, src: int) -> tuple[float, float]:
        name = self.layout.src_names[src]
        if name == "input":
            return self.node_centre("input", 0, None)
        layer, offset = divmod(src - 1, self.layout.n_heads + 1)
        head = offset if offset < self.layout.n_heads else None
        return self.node_centre(name, layer, head)

    @property
    def grouped(self) -> bool:
        return self.layout.n_kv_heads < self.layout.n_heads

    def kv_marker(self, layer: int, kv_head: int) -> tuple[float, float]:
        """Centre of KV head ``kv_head``'s marker (grouped-query attention only)."""
        group = queries_per_kv_head(self.layout)
        first, last = kv_head * group, (kv_head + 1) * group - 1
        x = (self.column_x(first) + self.column_x(last)) / 2
        return x, self.row_y(layer + 1) + NODE_H / 2 + 12

    def port(self, target: Destination) -> tuple[float, float]:
        """Where an edge into ``target`` ends."""
        if target.kind == "logits":
            x, y = self.node_centre("logits", 0, None)
        elif target.kind == "mlp":
            x, y = self.node_centre("m", target.layer, None)
        elif target.kind in ("k", "v") and self.grouped:
            x, y = self.kv_marker(target.layer, target.head)
            return x + (-4 if target.kind == "k" else 4), y + 4
        else:
            x, y = self.node_centre("a", target.layer, target.head)
            x += {"q": -PORT_SPREAD, "k": 0.0, "v": PORT_SPREAD}[target.kind]
        return x, y + NODE_H / 2


def _edge_path(edge: DrawnEdge, geometry: Geometry, largest: float) -> str:
    sx, sy = geometry.source_centre(edge.src)
    sy -= NODE_H / 2
    tx, ty = geometry.port(edge.target)
    middle = (sy + ty) / 2
    dash = f' stroke-dasharray="{DASH_NEGATIVE}"' if edge.negative else ""
    sign = "negative" if edge.negative else "positive"
    return (
        f'<path class="edge {edge.target.kind} {sign}" '
        f'd="M{sx:.1f},{sy:.1f} C{sx:.1f},{middle:.1f} {tx:.1f},{middle:.1f} {tx:.1f},{ty:.1f}" '
        f'fill="none" stroke="{edge.colour}" stroke-opacity="0.85" '
        f'stroke-width="{edge_width(edge.score, largest):.2f}"{dash}>'
        f"<title>{escape(edge.name)}: {edge.score:.4g}</title></path>"
    )


def _node(name: str, centre: tuple[float, float], active: bool) -> str:
    x, y = centre
    fill, stroke, text = (
        ("#fefcbf", "#2d3748", "#1a202c") if active else ("#f7fafc", "#cbd5e0", "#a0aec0")
    )
    return (
        f'<g class="node{" active" if active else ""}">'
        f'<rect x="{x - NODE_W / 2:.1f}" y="{y - NODE_H / 2:.1f}" width="{NODE_W:.0f}" '
        f'height="{NODE_H:.0f}" rx="6" fill="{fill}" stroke="{stroke}"/>'
        f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" fill="{text}">'
        f"{escape(name)}</text></g>"
    )


def _nodes(geometry: Geometry, edges: list[DrawnEdge]) -> list[str]:
    layout = geometry.layout
    active = {layout.src_names[edge.src] for edge in edges}
    for edge in edges:
        target = edge.target
        if target.kind in ("q", "mlp", "logits") or not geometry.grouped:
            active.add(layout.dst_names[edge.dst].split("<")[0])
    names = [*layout.src_names, "logits"]
    centres = [geometry.source_centre(i) for i in range(layout.n_src)]
    centres.append(geometry.node_centre("logits", 0, None))
    return [_node(n, c, n in active) for n, c in zip(names, centres, strict=True)]


def _kv_markers(geometry: Geometry) -> list[str]:
    """Grouped-query attention: a marker per KV head, joined to its query heads."""
    if not geometry.grouped:
        return []
    layout, group = geometry.layout, queries_per_kv_head(geometry.layout)
    parts = []
    for layer in range(layout.n_layers):
        for kv_head in range(layout.n_kv_heads):
            mx, my = geometry.kv_marker(layer, kv_head)
            for head in range(kv_head * group, (kv_head + 1) * group):
                hx, hy = geometry.node_centre("a", layer, head)
                parts.append(
                    f'<line class="kv-link" x1="{mx:.1f}" y1="{my:.1f}" x2="{hx:.1f}" '
                    f'y2="{hy + NODE_H / 2:.1f}" stroke="#cbd5e0" stroke-width="1"/>'
                )
            parts.append(
                f'<circle class="kv-port" cx="{mx:.1f}" cy="{my:.1f}" r="4" fill="#e2e8f0" '
                f'stroke="#718096"><title>a{layer}.h{kv_head}&lt;k|v&gt; (KV head {kv_head} '
                f"of layer {layer})</title></circle>"
            )
    return parts


def _legend(geometry: Geometry, largest: float) -> list[str]:
    x = MARGIN + geometry.plot_width + 20
    y = MARGIN + HEADER
    parts = [f'<g class="legend"><text x="{x}" y="{y}" font-weight="bold">Edge into</text>']
    rows = [(KIND_LABELS[kind], colour, "") for kind, colour in KIND_COLOURS.items()]
    rows += [("positive score", "#4a5568", ""), ("negative score", "#4a5568", DASH_NEGATIVE)]
    for index, (label, colour, dash) in enumerate(rows):
        row_y = y + 20 * (index + 1) + (10 if index >= len(KIND_COLOURS) else 0)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x}" y1="{row_y - 4}" x2="{x + 34}" y2="{row_y - 4}" stroke="{colour}" '
            f'stroke-width="3"{dash_attr}/><text x="{x + 42}" y="{row_y}">{label}</text>'
        )
    note_y = y + 20 * (len(rows) + 2)
    parts.append(f'<text x="{x}" y="{note_y}">width: |score| (max {largest:.3g})</text></g>')
    return parts


def circuit_svg(graph: CircuitGraph, *, title: str = "Circuit", top_when_empty: int = 50) -> str:
    """A standalone SVG document of ``graph``'s circuit (see the module docstring).

    Shows the in-graph edges, or the ``top_when_empty`` strongest edges when nothing is
    selected; every node is drawn, those touching a drawn edge highlighted.
    """
    geometry = Geometry(graph.layout)
    edges, caption = drawn_edges(graph, top_when_empty)
    largest = largest_score(edges)
    body = [
        f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="16" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<text x="{MARGIN}" y="{MARGIN + 28}" fill="#4a5568">{escape(caption)}</text>',
        *_kv_markers(geometry),
        *(_edge_path(edge, geometry, largest) for edge in edges),
        *_nodes(geometry, edges),
        *_legend(geometry, largest),
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{geometry.width:.0f}" '
        f'height="{geometry.height:.0f}" viewBox="0 0 {geometry.width:.0f} '
        f'{geometry.height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )
