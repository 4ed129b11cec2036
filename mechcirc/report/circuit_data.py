"""What a report's circuit drawing needs, as compact JSON: node and edge tables and, per
checkpoint, the edges to offer (indices into the edge table, scores, circuit membership).

Nodes sit on rows: ``input``, then for each layer ``L`` a row of KV heads (only under
grouped-query attention), a row of attention heads and a row for the MLP, then ``logits``.
A head's x is its index, the MLP sits right of the heads, ``input`` and ``logits`` in the
middle. The page hides rows without a drawn node, so a 30-layer model's circuit stays compact.

Edges keep their EAP-IG names (``a0.h1->a2.h3<q>``); each also records its source node, its
destination node (the head a q/k/v input belongs to, ``m{L}``, ``logits``) and its kind.
Under grouped-query attention a k/v input belongs to a KV head, drawn as node ``a{L}.kv{G}``.

Example:
    >>> index = CircuitIndex(ModelShape(n_layers=2, n_heads=2))
    >>> index.edge_ids(["input->a1.h0<k>", "a1.h0->logits"])
    [0, 1]
    >>> index.to_json()["nodes"]["name"]
    ['input', 'a1.h0', 'logits']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mechcirc.errors import UsageError

__all__ = [
    "KINDS",
    "CircuitIndex",
    "ModelShape",
    "edge_selection",
    "parse_edge",
    "round_significant",
]

KINDS = ("q", "k", "v", "mlp", "logits")
_SOURCE = r"input|a(?P<src_layer>\d+)\.h(?P<src_head>\d+)|m(?P<src_mlp>\d+)"
_DESTINATION = r"a(?P<dst_layer>\d+)\.h(?P<dst_head>\d+)<(?P<qkv>[qkv])>|m(?P<dst_mlp>\d+)|logits"
_EDGE = re.compile(rf"^(?P<src>{_SOURCE})->(?P<dst>{_DESTINATION})$")


@dataclass(frozen=True)
class ModelShape:
    """Layers and heads of the model a circuit belongs to.

    ``n_kv_heads`` None means unknown (a sweep's tables do not say): k/v inputs are then drawn
    into the head of the same index, which is right without grouped-query attention.
    """

    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None

    @property
    def grouped(self) -> bool:
        return self.n_kv_heads is not None and self.n_kv_heads != self.n_heads

    def row_labels(self) -> list[str]:
        """One label per drawing row, bottom (``input``) to top (``logits``)."""
        labels = ["input"]
        for layer in range(self.n_layers):
            labels += [f"L{layer} kv", f"L{layer} attn", f"L{layer} mlp"]
        return [*labels, "logits"]


@dataclass(frozen=True)
class ParsedEdge:
    src: str
    dst: str  # the node the destination belongs to
    kind: str  # one of KINDS
    layers: tuple[int, ...]  # every layer the name mentions, to check against the shape


def parse_edge(name: str, shape: ModelShape) -> ParsedEdge:
    """Split an EAP-IG edge name into source node, destination node and kind."""
    match = _EDGE.match(name)
    if match is None:
        raise UsageError(
            f"edge names look like 'a0.h1->a2.h3<q>' (sources input, a{{L}}.h{{H}}, m{{L}}; "
            f"destinations a{{L}}.h{{H}}<q|k|v>, m{{L}}, logits), got {name!r}"
        )
    groups = match.groupdict()
    layers = [int(groups[k]) for k in ("src_layer", "src_mlp", "dst_layer", "dst_mlp") if groups[k]]
    if groups["qkv"]:
        layer, head, kind = int(groups["dst_layer"]), int(groups["dst_head"]), groups["qkv"]
        dst = f"a{layer}.h{head}"
        if kind != "q" and shape.grouped:
            dst = f"a{layer}.kv{head}"
    else:
        dst, kind = groups["dst"], ("logits" if groups["dst"] == "logits" else "mlp")
    if any(layer >= shape.n_layers for layer in layers):
        raise UsageError(f"edge {name!r} names a layer beyond the model's {shape.n_layers}")
    return ParsedEdge(groups["src"], dst, kind, tuple(layers))


def _node_place(name: str, shape: ModelShape) -> tuple[int, float]:
    """(row, x) of a node in the drawing."""
    middle = (shape.n_heads - 1) / 2
    if name == "input":
        return 0, middle
    if name == "logits":
        return 3 * shape.n_layers + 1, middle
    if name.startswith("m"):
        return 3 * int(name[1:]) + 3, shape.n_heads + 0.5
    layer, _, rest = name[1:].partition(".")
    if rest.startswith("kv"):
        group = shape.n_heads // (shape.n_kv_heads or shape.n_heads)
        return 3 * int(layer) + 1, (int(rest[2:]) + 0.5) * group - 0.5
    return 3 * int(layer) + 2, float(rest[1:])


class CircuitIndex:
    """The nodes and edges of one model seen in any of its circuits, numbered as met."""

    def __init__(self, shape: ModelShape) -> None:
        self.shape = shape
        self._nodes: dict[str, int] = {}
        self._edges: dict[str, int] = {}
        self._edge_rows: list[tuple[int, int, int]] = []  # (src node, dst node, kind)

    def _node_id(self, name: str) -> int:
        if name not in self._nodes:
            self._nodes[name] = len(self._nodes)
        return self._nodes[name]

    def edge_ids(self, names: Sequence[str]) -> list[int]:
        """The index of each edge name (new names are parsed, checked and added)."""
        ids = []
        for name in names:
            if name not in self._edges:
                edge = parse_edge(name, self.shape)
                self._edges[name] = len(self._edges)
                src, dst = self._node_id(edge.src), self._node_id(edge.dst)
                self._edge_rows.append((src, dst, KINDS.index(edge.kind)))
            ids.append(self._edges[name])
        return ids

    def to_json(self) -> dict:
        """``nodes`` (name, row, x), ``rows`` (labels), ``n_heads``, ``kinds`` and ``edges``
        (name, src and dst node, kind as an index into ``kinds``)."""
        places = [_node_place(name, self.shape) for name in self._nodes]
        src, dst, kind = zip(*self._edge_rows, strict=True) if self._edge_rows else ((), (), ())
        return {
            "nodes": {
                "name": list(self._nodes),
                "row": [row for row, _ in places],
                "x": [x for _, x in places],
            },
            "rows": self.shape.row_labels(),
            "n_heads": self.shape.n_heads,
            "kinds": list(KINDS),
            "edges": {
                "name": list(self._edges),
                "src": list(src),
                "dst": list(dst),
                "kind": list(kind),
            },
        }


def round_significant(values: Sequence[float] | np.ndarray, digits: int = 4) -> list[float]:
    """Floats with ``digits`` significant digits (short in JSON); NaN becomes None."""
    return [
        None if not np.isfinite(value) else float(f"{value:.{digits}g}")
        for value in np.asarray(values, dtype=np.float64).tolist()
    ]


def edge_selection(
    index: CircuitIndex,
    names: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    in_circuit: Sequence[bool] | np.ndarray,
    max_edges: int,
) -> dict:
    """The edges a page offers at one checkpoint: every in-circuit edge plus the
    ``max_edges`` strongest, strongest ``|score|`` first.

    Returns ``{"e": edge ids, "s": scores (4 significant digits), "c": 1 if in the circuit}``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    in_circuit = np.asarray(in_circuit, dtype=bool)
    if not len(names) == len(scores) == len(in_circuit):
        raise UsageError(
            f"edge names, scores and in_circuit flags must be as long: "
            f"{len(names)}, {len(scores)}, {len(in_circuit)}"
        )
    order = np.argsort(-np.abs(scores), kind="stable")
    keep = in_circuit[order] | (np.arange(len(order)) < max_edges)
    order = order[keep]
    return {
        "e": index.edge_ids([names[i] for i in order]),
        "s": round_significant(scores[order]),
        "c": in_circuit[order].astype(int).tolist(),
    }
