"""Small hand-built layouts and an independent (slow, set-based) reference for graph tests."""

from __future__ import annotations

import torch

from mechcirc.graph import CircuitGraph, GraphLayout

LAYOUTS = {
    "sequential": GraphLayout(n_layers=2, n_heads=2, n_kv_heads=2, parallel_attn_mlp=False),
    "parallel": GraphLayout(n_layers=3, n_heads=2, n_kv_heads=2, parallel_attn_mlp=True),
    "grouped": GraphLayout(n_layers=2, n_heads=4, n_kv_heads=2, parallel_attn_mlp=False),
}


def random_graph(layout: GraphLayout, seed: int = 0) -> CircuitGraph:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(layout.n_src, layout.n_dst, generator=generator)
    return CircuitGraph(layout, scores * layout.real_edges)


def edge_mask(layout: GraphLayout, names: list[str]) -> torch.Tensor:
    mask = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
    for name in names:
        mask[layout.parse_edge(name)] = True
    return mask


def edge_names(layout: GraphLayout, mask: torch.Tensor) -> set[str]:
    return {layout.edge_name(s, d) for s, d in mask.nonzero().tolist()}


def fed_nodes(layout: GraphLayout, dst: int) -> list[str]:
    """Node names that destination ``dst`` feeds, spelled out from the naming grammar."""
    name = layout.dst_names[dst]
    if name == "logits" or "<" not in name:
        return [name]
    head_part, kind = name[:-3], name[-2]
    layer, head = (int(x) for x in head_part[1:].split(".h"))
    if kind == "q":
        return [head_part]
    group = layout.n_heads // layout.n_kv_heads
    return [f"a{layer}.h{h}" for h in range(head * group, (head + 1) * group)]


def on_complete_paths(layout: GraphLayout, mask: torch.Tensor) -> set[str]:
    """In-graph edges lying on an in-graph path input -> ... -> logits (plain set reachability)."""
    edges = [(layout.src_names[s], d) for s, d in mask.nonzero().tolist()]
    reached = {"input"}
    changed = True
    while changed:
        changed = False
        for src, dst in edges:
            if src in reached:
                for node in fed_nodes(layout, dst):
                    if node not in reached:
                        reached.add(node)
                        changed = True
    useful = {"logits"}
    changed = True
    while changed:
        changed = False
        for src, dst in edges:
            if src not in useful and any(node in useful for node in fed_nodes(layout, dst)):
                useful.add(src)
                changed = True
    return {
        f"{src}->{layout.dst_names[dst]}"
        for src, dst in edges
        if src in reached and any(node in useful for node in fed_nodes(layout, dst))
    }


def reference_greedy_order(graph: CircuitGraph, absolute: bool = True) -> list[str]:
    """EAP-IG's greedy growth spelled out: scan every candidate each step (quadratic)."""
    layout = graph.layout
    key = graph.scores.abs() if absolute else graph.scores
    in_graph_nodes = {"logits"}
    taken: list[str] = []
    remaining = {(s, d) for s, d in layout.real_edges.nonzero().tolist()}
    while remaining:
        candidates = [
            (s, d)
            for s, d in remaining
            if any(node in in_graph_nodes for node in fed_nodes(layout, d))
        ]
        best = max(candidates, key=lambda edge: (float(key[edge]), -edge[1], -edge[0]))
        remaining.remove(best)
        taken.append(layout.edge_name(*best))
        in_graph_nodes.add(layout.src_names[best[0]])
    return taken
