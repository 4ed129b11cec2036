"""How a circuit changes over training: overlap with the previous and with the final circuit.

Definitions (Tigges et al. 2024 and their code), for the in-circuit edges ``A`` and ``B`` of two
checkpoints:

- ``jaccard_edges = |A ∩ B| / |A ∪ B|``; ``jaccard_nodes`` the same over the circuits' node
  names (the ends of their edges, ``<q|k|v>`` dropped);
- ``weighted_jaccard = Σ min(w_A, w_B) / Σ max(w_A, w_B)`` over ``A ∪ B``, with
  ``w_e = |score_e| / Σ_circuit |score|`` (0 where an edge is absent);
- ``change_rate_ewma``: ``c_t = 1 - weighted_jaccard``, ``ewma_t = 0.5 c_t + 0.5 ewma_{t-1}``
  from ``ewma = 0`` before the first comparison;
- ``edit_distance``: edges added plus edges removed.

Each is computed against the previous checkpoint (``_prev``; null at the first) and against the
model's final checkpoint (``_final``). As in the authors' code, a similarity whose union is
empty (two empty circuits) is 0.

Example:
    >>> weighted_jaccard({"a->b": 1.0, "c->d": 1.0}, {"a->b": 2.0})
    0.5
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = [
    "EVOLUTION_COLUMNS",
    "circuit_nodes",
    "edit_distance",
    "evolution_table",
    "jaccard",
    "weighted_jaccard",
]

EWMA_ALPHA = 0.5
METRICS = (
    "jaccard_edges",
    "jaccard_nodes",
    "weighted_jaccard",
    "change_rate_ewma",
    "edit_distance",
)
EVOLUTION_COLUMNS = (
    "model",
    "task",
    "step",
    "tokens",
    *(f"{metric}_{ref}" for ref in ("prev", "final") for metric in METRICS),
)

Circuit = Mapping[str, float]  # in-circuit edge name -> score


def jaccard(a: set[str], b: set[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def circuit_nodes(edges: set[str] | Circuit) -> set[str]:
    """The node names an edge set touches: ``a0.h1->a2.h3<q>`` gives ``a0.h1`` and ``a2.h3``."""
    nodes = set()
    for edge in edges:
        src, _, dst = edge.partition("->")
        nodes |= {src, dst.split("<")[0]}
    return nodes


def _weights(circuit: Circuit) -> dict[str, float]:
    total = sum(abs(score) for score in circuit.values())
    if total == 0:
        return {edge: 1 / len(circuit) for edge in circuit}
    return {edge: abs(score) / total for edge, score in circuit.items()}


def weighted_jaccard(a: Circuit, b: Circuit) -> float:
    wa, wb = _weights(a), _weights(b)
    union = wa.keys() | wb.keys()
    high = sum(max(wa.get(e, 0.0), wb.get(e, 0.0)) for e in union)
    low = sum(min(wa.get(e, 0.0), wb.get(e, 0.0)) for e in union)
    return low / high if high else 0.0


def edit_distance(a: set[str] | Circuit, b: set[str] | Circuit) -> int:
    return len(set(a) ^ set(b))


def _compare(a: Circuit, b: Circuit) -> dict[str, float]:
    return {
        "jaccard_edges": jaccard(set(a), set(b)),
        "jaccard_nodes": jaccard(circuit_nodes(a), circuit_nodes(b)),
        "weighted_jaccard": weighted_jaccard(a, b),
        "edit_distance": edit_distance(a, b),
    }


def _series_rows(model: str, task: str, checkpoints: list[tuple[int, int, Circuit]]) -> list[dict]:
    rows, final = [], checkpoints[-1][2]
    ewma_prev = ewma_final = 0.0

    def smoothed(previous: float, similarity: float) -> float:
        return EWMA_ALPHA * (1 - similarity) + (1 - EWMA_ALPHA) * previous

    for i, (step, tokens, circuit) in enumerate(checkpoints):
        row = {"model": model, "task": task, "step": step, "tokens": tokens}
        to_final = _compare(circuit, final)
        ewma_final = smoothed(ewma_final, to_final["weighted_jaccard"])
        row |= {f"{k}_final": v for k, v in to_final.items()}
        row["change_rate_ewma_final"] = ewma_final
        if i:
            to_prev = _compare(checkpoints[i - 1][2], circuit)
            ewma_prev = smoothed(ewma_prev, to_prev["weighted_jaccard"])
            row |= {f"{k}_prev": v for k, v in to_prev.items()}
            row["change_rate_ewma_prev"] = ewma_prev
        rows.append(row)
    return rows


def evolution_table(circuits: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task, checkpoint) of ``circuits.parquet``, from the in-circuit edges
    of ``edges.parquet``; checkpoints in step order."""
    in_circuit = edges[edges["in_circuit"]]
    by_checkpoint = {
        key: dict(zip(group["edge"], group["score"].astype(float), strict=True))
        for key, group in in_circuit.groupby(["model", "task", "step"], sort=False)
    }
    rows = []
    ordered = circuits.sort_values(["model", "task", "step"], kind="stable")
    for (model, task), group in ordered.groupby(["model", "task"], sort=False):
        checkpoints = [
            (int(step), int(tokens), by_checkpoint.get((model, task, step), {}))
            for step, tokens in zip(group["step"], group["tokens"], strict=True)
        ]
        rows += _series_rows(model, task, checkpoints)
    frame = pd.DataFrame(rows, columns=list(EVOLUTION_COLUMNS))
    for column in frame.columns[4:]:
        frame[column] = frame[column].astype("Int64" if "edit_distance" in column else "Float64")
    return frame.astype({"step": "int64", "tokens": "int64"})
