"""Circuit graphs as EAP-IG JSON, the format of hannamw/EAP-IG's ``Graph.to_json``.

The file is one object::

    {"cfg": {"n_layers": 12, "n_heads": 12, "parallel_attn_mlp": true, "d_model": 768,
             "n_kv_heads": 12},
     "nodes": {"input": {"in_graph": true}, "a0.h0": {"in_graph": false}, ..., "logits": {...}},
     "edges": {"input->a0.h0<q>": {"score": 0.0123, "in_graph": true}, ...}}

Every real edge is written. Each float32 score is written as the Python float (double) equal
to it, in the shortest decimal that reads back to that double (as EAP-IG's ``.item()`` does),
so a save/load round trip is exact. ``n_kv_heads`` is
mechcirc's addition (grouped-query attention); EAP-IG ignores it, and files without it load
with ``n_kv_heads = n_heads``. Under grouped-query attention the k/v edges name KV heads
(``a{L}.h{G}<k>``, ``G < n_kv_heads``); EAP-IG has no such layout and would read ``G`` as a
query head. EAP-IG's loader requires ``cfg["d_model"]``, written when the
graph knows it (``CircuitGraph(..., d_model=...)`` or ``CircuitGraph.from_model``). Node
entries are derived from the edges; on reading, node values are checked for names only
(older EAP-IG files write ``{"a0.h0": true}``, newer ``{"a0.h0": {"in_graph": true}}``).

Example:
    >>> save(graph, "graph.json")  # doctest: +SKIP
    >>> CircuitGraph(**load("graph.json"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mechcirc.errors import UsageError
from mechcirc.graph.layout import GraphLayout, cfg_int
from mechcirc.graph.pruning import nodes_in_graph
from mechcirc.graph.topology import node_names

__all__ = ["from_dict", "load", "save", "to_dict"]

if TYPE_CHECKING:
    from mechcirc.graph.circuit import CircuitGraph


def to_dict(graph: CircuitGraph) -> dict[str, Any]:
    """The EAP-IG JSON object of ``graph``."""
    layout = graph.layout
    cfg: dict[str, Any] = {
        "n_layers": layout.n_layers,
        "n_heads": layout.n_heads,
        "parallel_attn_mlp": layout.parallel_attn_mlp,
    }
    if graph.d_model is not None:
        cfg["d_model"] = graph.d_model
    cfg["n_kv_heads"] = layout.n_kv_heads
    flags = nodes_in_graph(graph.in_graph, layout).tolist()
    nodes = {name: {"in_graph": flag} for name, flag in zip(node_names(layout), flags, strict=True)}
    src, dst = layout.real_edges.nonzero(as_tuple=True)
    scores = graph.scores[src, dst].tolist()  # float32 -> exact Python floats
    member = graph.in_graph[src, dst].tolist()
    edges = {
        layout.edge_name(s, d): {"score": score, "in_graph": flag}
        for s, d, score, flag in zip(src.tolist(), dst.tolist(), scores, member, strict=True)
    }
    return {"cfg": cfg, "nodes": nodes, "edges": edges}


def save(graph: CircuitGraph, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(to_dict(graph), allow_nan=False), encoding="utf-8")
    return path


def _edge_index(name: str, layout: GraphLayout, lookup: dict[str, int]) -> int:
    """Position of edge ``name`` in ``layout.real_edges.nonzero()``, or why it is not an edge."""
    if name in lookup:
        return lookup[name]
    src, dst = layout.parse_edge(name)  # raises for unknown node names
    raise UsageError(
        f"EAP-IG edge {name!r} is not an edge of this cfg: "
        f"{layout.src_names[src]} is not upstream of {layout.dst_names[dst]}"
    )


def _read_edges(edges: object, layout: GraphLayout) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(edges, dict):
        raise UsageError(f"EAP-IG 'edges' must be an object, got {type(edges).__name__}")
    src, dst = layout.real_edges.nonzero(as_tuple=True)
    pairs = zip(src.tolist(), dst.tolist(), strict=True)
    lookup = {layout.edge_name(s, d): i for i, (s, d) in enumerate(pairs)}
    scores, member = [0.0] * len(lookup), [False] * len(lookup)
    seen = torch.zeros(len(lookup), dtype=torch.bool)
    for name, entry in edges.items():
        index = _edge_index(name, layout, lookup)
        score = entry.get("score") if isinstance(entry, dict) else None
        flag = entry.get("in_graph") if isinstance(entry, dict) else None
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise UsageError(f"EAP-IG edge {name!r} needs a numeric 'score', got {score!r}")
        if not isinstance(flag, bool):
            raise UsageError(f"EAP-IG edge {name!r} needs 'in_graph' true or false, got {flag!r}")
        scores[index], member[index], seen[index] = score, flag, True
    if not seen.all():
        first = int((~seen).nonzero()[0])
        raise UsageError(
            f"EAP-IG 'edges' lacks {int((~seen).sum())} of the cfg's {layout.n_edges} edges, "
            f"e.g. {layout.edge_name(int(src[first]), int(dst[first]))!r}"
        )
    dense_scores = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.float32)
    dense_member = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
    # float64 first: Python floats are doubles, rounded once to float32 (exact for our files)
    dense_scores[src, dst] = torch.tensor(scores, dtype=torch.float64).to(torch.float32)
    dense_member[src, dst] = torch.tensor(member, dtype=torch.bool)
    return dense_scores, dense_member


def _check_nodes(nodes: object, layout: GraphLayout) -> None:
    if not isinstance(nodes, dict):
        raise UsageError(f"EAP-IG 'nodes' must be an object, got {type(nodes).__name__}")
    unknown = sorted(set(nodes) - set(node_names(layout)))
    if unknown:
        raise UsageError(
            f"EAP-IG 'nodes' has {len(unknown)} names not in the cfg's graph, e.g. {unknown[0]!r}"
        )


def from_dict(data: object) -> dict[str, Any]:
    """``CircuitGraph`` keyword arguments from an EAP-IG JSON object, validated."""
    if not isinstance(data, dict) or not {"cfg", "nodes", "edges"} <= set(data):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise UsageError(f"EAP-IG JSON needs the keys cfg, nodes and edges; found {keys}")
    layout = GraphLayout.from_dict(data["cfg"])
    _check_nodes(data["nodes"], layout)
    scores, in_graph = _read_edges(data["edges"], layout)
    d_model = data["cfg"].get("d_model")
    if d_model is not None:
        d_model = cfg_int(data["cfg"], "d_model", 1)
    return {"layout": layout, "scores": scores, "in_graph": in_graph, "d_model": d_model}


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate an EAP-IG JSON file; a UsageError names the file and the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no graph file at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path} is not valid JSON: {error}") from None
    try:
        return from_dict(data)
    except UsageError as error:
        raise UsageError(f"{path}: {error}") from None
