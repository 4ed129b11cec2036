"""The circuit graph: a layout, a score per edge, and which edges are in the circuit.

Scores and membership are dense ``[n_src, n_dst]`` tensors indexed as in
:class:`~mechcirc.graph.layout.GraphLayout`; only real edges (``layout.real_edges``) carry
scores or can be in the graph. A ``CircuitGraph`` is treated as immutable: selection and
pruning return new graphs, and its tensors must not be modified in place.

Example:
    >>> layout = GraphLayout(n_layers=2, n_heads=2, n_kv_heads=2, parallel_attn_mlp=True)
    >>> graph = CircuitGraph(layout, torch.randn(layout.n_src, layout.n_dst) * layout.real_edges)
    >>> circuit = graph.select("topn", n=5, prune=False)
    >>> circuit.n_edges_in_graph, circuit.node_in_graph["logits"]
    (5, True)
    >>> circuit.save_json("graph.json")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.graph import (
    eap_ig_json,
    pruning,
    render_dot,
    render_svg,
    safetensors_io,
    selection,
)
from mechcirc.graph.layout import GraphLayout
from mechcirc.graph.topology import node_names

__all__ = ["CircuitGraph", "SELECTION_METHODS"]

SELECTION_METHODS = ("topn", "threshold", "greedy")


def _check_matrix(name: str, value: object, layout: GraphLayout) -> Tensor:
    expected = [layout.n_src, layout.n_dst]
    if not isinstance(value, Tensor):
        raise UsageError(f"{name} must be a torch tensor of shape [n_src, n_dst] = {expected}")
    if list(value.shape) != expected:
        raise UsageError(
            f"{name} must have shape [n_src, n_dst] = {expected} for this layout, "
            f"got {list(value.shape)}"
        )
    return value.detach().cpu()


def _first_edge(mask: Tensor, layout: GraphLayout) -> str:
    return layout.edge_name(*mask.nonzero()[0].tolist())


def _checked_scores(scores: object, layout: GraphLayout) -> Float[Tensor, "n_src n_dst"]:
    scores = _check_matrix("scores", scores, layout)
    if not scores.is_floating_point():
        raise UsageError(f"scores must be a floating-point tensor, got {scores.dtype}")
    scores = scores.to(torch.float32, copy=True)  # never share the caller's storage
    off_edges = (scores != 0) & ~layout.real_edges
    if off_edges.any():
        raise UsageError(
            f"scores must be 0 where no edge exists; {int(off_edges.sum())} entries are not,"
            f" e.g. {_first_edge(off_edges, layout)} (source not upstream of destination)"
        )
    bad = ~torch.isfinite(scores)
    if bad.any():
        raise UsageError(
            f"scores must be finite; {int(bad.sum())} are not, e.g. {_first_edge(bad, layout)}"
        )
    return scores


def _checked_membership(in_graph: object, layout: GraphLayout) -> Bool[Tensor, "n_src n_dst"]:
    in_graph = _check_matrix("in_graph", in_graph, layout)
    if in_graph.dtype != torch.bool:
        raise UsageError(f"in_graph must be a bool tensor, got {in_graph.dtype}")
    off_edges = in_graph & ~layout.real_edges
    if off_edges.any():
        raise UsageError(
            f"in_graph can only mark real edges; {int(off_edges.sum())} entries are not edges,"
            f" e.g. {_first_edge(off_edges, layout)}"
        )
    return in_graph.clone()


class CircuitGraph:
    """Edge scores of a model's graph and the subset of edges forming a circuit.

    Args:
        layout: node and edge layout (``GraphLayout.from_model(model)``).
        scores: ``[n_src, n_dst]`` floats, 0 where no edge exists; stored as float32 on CPU.
        in_graph: ``[n_src, n_dst]`` bools, True only on real edges; default: no edge.
        d_model: the model width; only recorded in EAP-IG JSON, whose loader requires it.
    """

    def __init__(
        self,
        layout: GraphLayout,
        scores: Float[Tensor, "n_src n_dst"],
        in_graph: Bool[Tensor, "n_src n_dst"] | None = None,
        *,
        d_model: int | None = None,
    ) -> None:
        if not isinstance(layout, GraphLayout):
            raise UsageError(f"layout must be a GraphLayout, got {type(layout).__name__}")
        self.layout = layout
        self.scores = _checked_scores(scores, layout)
        if in_graph is None:
            in_graph = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
        self.in_graph = _checked_membership(in_graph, layout)
        if d_model is not None and (isinstance(d_model, bool) or not isinstance(d_model, int)):
            raise UsageError(f"d_model must be an int or None, got {d_model!r}")
        self.d_model = d_model
        self._greedy_orders: dict[bool, Tensor] = {}

    @classmethod
    def from_model(cls, model, scores: Float[Tensor, "n_src n_dst"]) -> CircuitGraph:
        """A graph over ``model``'s layout (its ``d_model`` recorded for EAP-IG JSON)."""
        return cls(GraphLayout.from_model(model), scores, d_model=model.cfg.d_model)

    def with_in_graph(self, in_graph: Bool[Tensor, "n_src n_dst"]) -> CircuitGraph:
        """A new graph with the same scores and ``in_graph`` as its circuit."""
        graph = CircuitGraph(self.layout, self.scores, in_graph, d_model=self.d_model)
        graph._greedy_orders = self._greedy_orders  # same scores, same greedy order
        return graph

    # ---- membership ----------------------------------------------------------------------
    @property
    def n_edges_in_graph(self) -> int:
        return int(self.in_graph.sum())

    @property
    def node_in_graph(self) -> dict[str, bool]:
        """EAP-IG node membership: a source with an in-graph outgoing edge that is fed from
        the input (``input`` always is); ``logits`` is always in the graph."""
        flags = pruning.nodes_in_graph(self.in_graph, self.layout).tolist()
        return dict(zip(node_names(self.layout), flags, strict=True))

    def in_graph_edges(self) -> list[tuple[str, float]]:
        """``(edge name, score)`` of every in-graph edge, largest ``|score|`` first."""
        src, dst = self.in_graph.nonzero(as_tuple=True)
        values = self.scores[src, dst]
        order = torch.sort(values.abs(), descending=True, stable=True).indices.tolist()
        src_list, dst_list, score_list = src.tolist(), dst.tolist(), values.tolist()
        return [(self.layout.edge_name(src_list[i], dst_list[i]), score_list[i]) for i in order]

    # ---- selection and pruning -----------------------------------------------------------
    def select(
        self,
        method: str,
        *,
        n: int | None = None,
        threshold: float | None = None,
        absolute: bool = True,
        prune: bool = True,
    ) -> CircuitGraph:
        """A new graph whose circuit is chosen from the scores; ``self`` is unchanged.

        Args:
            method: ``"topn"`` (the ``n`` best edges), ``"threshold"`` (edges with
                ``|score| >= threshold``, or ``score >=`` when signed) or ``"greedy"``
                (growth from the logits, EAP-IG's ``apply_greedy``).
            absolute: rank by ``|score|``; False ranks by the signed score.
            prune: remove dangling edges afterwards (see :mod:`mechcirc.graph.pruning`).
                For topn and threshold this may leave fewer than ``n`` edges; greedy keeps
                growing so that the pruned circuit has ``n`` edges (see
                :func:`mechcirc.graph.selection.greedy`).

        Example:
            >>> graph.select("topn", n=100, absolute=False).n_edges_in_graph  # doctest: +SKIP
            97
        """
        self._check_selection_args(method, n, threshold)
        if method == "greedy":
            mask = selection.greedy(self.greedy_order(absolute), self.layout, n, prune)
            return self.with_in_graph(mask)
        if method == "topn":
            mask = selection.top_n(self.scores, self.layout, n, absolute)
        else:
            mask = selection.above_threshold(self.scores, self.layout, threshold, absolute)
        return self.with_in_graph(pruning.prune(mask, self.layout) if prune else mask)

    @staticmethod
    def _check_selection_args(method: str, n: int | None, threshold: float | None) -> None:
        if method not in SELECTION_METHODS:
            raise UsageError(
                f"unknown selection method {method!r}: choose one of {', '.join(SELECTION_METHODS)}"
            )
        wants_n = method != "threshold"
        if wants_n and (n is None or threshold is not None):
            raise UsageError(f"selection {method!r} takes n (an edge count) and no threshold")
        if not wants_n and (threshold is None or n is not None):
            raise UsageError("selection 'threshold' takes threshold (a score) and no n")

    def greedy_order(self, absolute: bool = True) -> Tensor:
        """Every real edge as ``(src, dst)`` in greedy order (computed once per ``absolute``)."""
        if absolute not in self._greedy_orders:
            self._greedy_orders[absolute] = selection.greedy_order(
                self.scores, self.layout, absolute
            )
        return self._greedy_orders[absolute]

    def pruned(self) -> CircuitGraph:
        """A new graph without dangling edges."""
        return self.with_in_graph(pruning.prune(self.in_graph, self.layout))

    # ---- files ---------------------------------------------------------------------------
    def save_json(self, path: str | Path) -> Path:
        """Write EAP-IG JSON (every real edge's score and ``in_graph``)."""
        return eap_ig_json.save(self, path)

    @classmethod
    def load_json(cls, path: str | Path) -> CircuitGraph:
        """Read EAP-IG JSON written by mechcirc or hannamw/EAP-IG; validates every edge."""
        return cls(**eap_ig_json.load(path))

    def save_safetensors(self, path: str | Path) -> Path:
        """Write ``scores`` and ``in_graph`` as safetensors, the layout as metadata."""
        return safetensors_io.save(self, path)

    @classmethod
    def load_safetensors(cls, path: str | Path) -> CircuitGraph:
        return cls(**safetensors_io.load(path))

    def to_svg(self, *, title: str = "Circuit", top_when_empty: int = 50) -> str:
        """A standalone layered SVG of the in-graph edges (or, when the circuit is empty, the
        ``top_when_empty`` strongest edges); see :mod:`mechcirc.graph.render_svg`."""
        return render_svg.circuit_svg(self, title=title, top_when_empty=top_when_empty)

    def save_svg(
        self, path: str | Path, *, title: str = "Circuit", top_when_empty: int = 50
    ) -> Path:
        return _write_text(path, self.to_svg(title=title, top_when_empty=top_when_empty))

    def to_dot(self, *, title: str = "Circuit", top_when_empty: int = 50) -> str:
        """Graphviz text of the same edges as :meth:`to_svg`; see
        :mod:`mechcirc.graph.render_dot`."""
        return render_dot.circuit_dot(self, title=title, top_when_empty=top_when_empty)

    def save_dot(
        self, path: str | Path, *, title: str = "Circuit", top_when_empty: int = 50
    ) -> Path:
        return _write_text(path, self.to_dot(title=title, top_when_empty=top_when_empty))

    def __repr__(self) -> str:
        layout = self.layout
        return (
            f"CircuitGraph(n_layers={layout.n_layers}, n_heads={layout.n_heads}, "
            f"n_kv_heads={layout.n_kv_heads}, edges in graph: "
            f"{self.n_edges_in_graph}/{layout.n_edges})"
        )


def _write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
