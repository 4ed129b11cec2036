"""Component emergence: for each head score, the head that carries it (Tigges et al.'s rule).

For a model and a score, the candidates are the heads whose score, at its maximum over training,
reaches ``threshold`` (25%) of the largest value any head reaches at any checkpoint. Among them
the chosen head is the one present in the circuit (an end of an in-circuit edge, any task) at the
most checkpoints; ties go to the head that reached the threshold earliest, then the higher
maximum, then the lower layer and head.

Example:
    >>> chosen = emergent_heads(heads_table, edges_table)   # doctest: +SKIP
    >>> chosen.loc[0, ["model", "score", "layer", "head"]].tolist()  # doctest: +SKIP
    ['pythia-160m', 'induction', 4, 11]
"""

from __future__ import annotations

import pandas as pd

from mechcirc.sweep.evolution import circuit_nodes

__all__ = ["EMERGENCE_THRESHOLD", "emergent_heads", "top_heads"]

EMERGENCE_THRESHOLD = 0.25
COLUMNS = ["model", "score", "layer", "head", "max_value", "first_step", "checkpoints_in_circuit"]


def _presence(edges: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(model, node) -> number of checkpoints at which the node is in some task's circuit."""
    steps: dict[tuple[str, str], set[int]] = {}
    in_circuit = edges[edges["in_circuit"]]
    for (model, step), group in in_circuit.groupby(["model", "step"], sort=False):
        for node in circuit_nodes(set(group["edge"])):
            steps.setdefault((model, node), set()).add(int(step))
    return {key: len(found) for key, found in steps.items()}


def emergent_heads(
    heads: pd.DataFrame, edges: pd.DataFrame, threshold: float = EMERGENCE_THRESHOLD
) -> pd.DataFrame:
    """One row per (model, score): the chosen head, its maximum, the first step at which it
    reached the threshold, and at how many checkpoints it was in a circuit."""
    presence = _presence(edges)
    chosen = []
    for (model, score), group in heads.groupby(["model", "score"], sort=True):
        cutoff = threshold * group["value"].max()
        if not cutoff > 0:
            continue
        per_head = group.groupby(["layer", "head"])
        maxima = per_head["value"].max()
        candidates = []
        for (layer, head), high in maxima[maxima >= cutoff].items():
            rows = per_head.get_group((layer, head)).sort_values("step")
            first = int(rows.loc[rows["value"] >= cutoff, "step"].iloc[0])
            count = presence.get((model, f"a{layer}.h{head}"), 0)
            candidates.append((-count, first, -high, int(layer), int(head)))
        count, first, high, layer, head = min(candidates)
        chosen.append([model, score, layer, head, -high, first, -count])
    return pd.DataFrame(chosen, columns=COLUMNS)


def top_heads(heads: pd.DataFrame, model: str, score: str, k: int = 5) -> list[tuple[int, int]]:
    """The ``k`` heads of ``model`` with the highest maximum of ``score`` over training."""
    rows = heads[(heads["model"] == model) & (heads["score"] == score)]
    maxima = rows.groupby(["layer", "head"])["value"].max()
    ranked = sorted(maxima.items(), key=lambda item: (-item[1], item[0]))
    return [(int(layer), int(head)) for (layer, head), _ in ranked[:k]]
