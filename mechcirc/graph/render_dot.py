"""Graphviz ``.dot`` text of a circuit, for people who have Graphviz (``dot -Tpdf``).

Drawn bottom to top (``rankdir=BT``): ``input``, each layer's heads and MLP on one rank,
``logits``. Edges use the colours, dashes and widths of :mod:`mechcirc.graph.render_style`
and carry the destination kind (``q``/``k``/``v``) as a head label and the edge name and score
as a tooltip. With grouped-query attention, k/v edges end at a KV-head node ``a{L}.kv{G}``
joined by dotted grey lines to its query heads.

Example:
    >>> Path("circuit.dot").write_text(circuit_dot(circuit))  # doctest: +SKIP
    $ dot -Tsvg circuit.dot -o circuit_graphviz.svg
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mechcirc.graph.render_style import (
    DrawnEdge,
    drawn_edges,
    edge_width,
    largest_score,
)
from mechcirc.graph.topology import queries_per_kv_head

__all__ = ["circuit_dot"]

if TYPE_CHECKING:
    from mechcirc.graph.circuit import CircuitGraph
    from mechcirc.graph.layout import GraphLayout


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _grouped_kv(edge: DrawnEdge, layout: GraphLayout) -> bool:
    return edge.target.kind in ("k", "v") and layout.n_kv_heads < layout.n_heads


def _target_node(edge: DrawnEdge, layout: GraphLayout) -> str:
    if _grouped_kv(edge, layout):
        return f"a{edge.target.layer}.kv{edge.target.head}"
    return layout.dst_names[edge.dst].split("<")[0]


def _edge_line(edge: DrawnEdge, layout: GraphLayout, largest: float) -> str:
    attributes = {
        "color": edge.colour,
        "penwidth": f"{edge_width(edge.score, largest):.2f}",
        "tooltip": f"{edge.name}: {edge.score:.4g}",
    }
    if edge.negative:
        attributes["style"] = "dashed"
    if edge.target.kind in ("q", "k", "v"):
        attributes["headlabel"] = edge.target.kind
    text = ", ".join(f"{key}={_quote(value)}" for key, value in attributes.items())
    source = layout.src_names[edge.src]
    return f"  {_quote(source)} -> {_quote(_target_node(edge, layout))} [{text}];"


def _kv_nodes(edges: list[DrawnEdge], layout: GraphLayout) -> list[str]:
    """KV-head nodes receiving drawn k/v edges, linked to the query heads they serve."""
    used = sorted({(e.target.layer, e.target.head) for e in edges if _grouped_kv(e, layout)})
    group = queries_per_kv_head(layout)
    lines = []
    for layer, kv_head in used:
        name = _quote(f"a{layer}.kv{kv_head}")
        lines.append(f'  {name} [shape=ellipse, fillcolor="#e2e8f0"];')
        lines += [
            f'  {name} -> "a{layer}.h{head}" [style=dotted, color="#a0aec0", arrowhead=none];'
            for head in range(kv_head * group, (kv_head + 1) * group)
        ]
    return lines


def _layer_of(name: str) -> int | None:
    """The layer of ``a{L}.h{H}`` or ``m{L}``; None for ``input`` and ``logits``."""
    return None if name in ("input", "logits") else int(name[1:].split(".")[0])


def _ranks(names: list[str], layout: GraphLayout) -> list[str]:
    """One ``rank=same`` group per layer, over the drawn heads and MLP of that layer."""
    lines = []
    for layer in range(layout.n_layers):
        members = [_quote(name) for name in names if _layer_of(name) == layer]
        if members:
            lines.append("  { rank=same; " + " ".join(members) + "; }")
    return lines


def circuit_dot(graph: CircuitGraph, *, title: str = "Circuit", top_when_empty: int = 50) -> str:
    """Graphviz text of the in-graph edges (or the strongest edges when nothing is selected)."""
    layout = graph.layout
    edges, caption = drawn_edges(graph, top_when_empty)
    largest = largest_score(edges)
    endpoints = {layout.src_names[e.src] for e in edges} | {_target_node(e, layout) for e in edges}
    plain = sorted(n for n in endpoints if ".kv" not in n)
    lines = [
        "digraph circuit {",
        f"  label={_quote(f'{title}: {caption}')}; labelloc=t; rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fillcolor="#fefcbf", fontname="Helvetica"];',
        '  edge [arrowsize=0.6, fontname="Helvetica", fontsize=9];',
        *(f"  {_quote(name)};" for name in plain),
        *_kv_nodes(edges, layout),
        *_ranks(plain, layout),
        *(_edge_line(edge, layout, largest) for edge in edges),
        "}",
    ]
    return "\n".join(lines) + "\n"
