"""Circuit graphs as safetensors: ``scores`` (float32) and ``in_graph`` (bool) tensors of
shape ``[n_src, n_dst]``, with the layout and ``d_model`` as JSON in the metadata.

Example:
    >>> save(graph, "scores.safetensors")  # doctest: +SKIP
    >>> CircuitGraph(**load("scores.safetensors"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mechcirc.errors import MechcircError, UsageError
from mechcirc.graph.layout import GraphLayout
from mechcirc.tensorfiles import load_tensors, save_tensors

__all__ = ["FORMAT", "load", "save"]

if TYPE_CHECKING:
    from mechcirc.graph.circuit import CircuitGraph

FORMAT = "mechcirc.circuit_graph.v1"


def save(graph: CircuitGraph, path: str | Path) -> Path:
    metadata = {
        "format": FORMAT,
        "layout": json.dumps(graph.layout.to_dict()),
        "d_model": json.dumps(graph.d_model),
    }
    return save_tensors(path, {"scores": graph.scores, "in_graph": graph.in_graph}, metadata)


def load(path: str | Path) -> dict[str, Any]:
    """``CircuitGraph`` keyword arguments from a file written by :func:`save`."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no graph file at {path}")
    try:
        tensors, metadata = load_tensors(path)
    except MechcircError as error:
        raise UsageError(f"{path} is not a safetensors file: {error}") from None
    if metadata.get("format") != FORMAT or not {"scores", "in_graph"} <= set(tensors):
        raise UsageError(
            f"{path} is not a mechcirc circuit graph (expected metadata format={FORMAT} and "
            f"tensors scores, in_graph; found format={metadata.get('format')!r}, "
            f"tensors {sorted(tensors)})"
        )
    try:
        layout = GraphLayout.from_dict(json.loads(metadata["layout"]))
        d_model = json.loads(metadata.get("d_model", "null"))
    except (KeyError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}: unreadable layout metadata ({error})") from None
    return {
        "layout": layout,
        "scores": tensors["scores"],
        "in_graph": tensors["in_graph"],
        "d_model": d_model,
    }
