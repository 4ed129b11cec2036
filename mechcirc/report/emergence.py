"""Component emergence (Tigges et al.): for each head score, the head that carries it.

The rule, per model, task and head score: the candidates are the heads whose maximum over
training reaches 25% of the largest value any head reaches; of those, the head present in the
task's circuit at the most checkpoints wins (ties: the larger maximum, then the lower layer and
head). A head is present when it is an endpoint of an in-circuit edge (its output feeds an
edge, or an edge feeds its query, key or value input).

Example:
    >>> chosen = emergent_heads(heads_table, edges_table)  # doctest: +SKIP
    >>> chosen.columns.tolist()  # doctest: +SKIP
    ['model', 'task', 'score', 'layer', 'head', 'presence', 'peak']
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CANDIDATE_FRACTION", "circuit_presence", "emergent_heads"]

CANDIDATE_FRACTION = 0.25
COLUMNS = ["model", "task", "score", "layer", "head", "presence", "peak"]


def circuit_presence(edges: pd.DataFrame) -> pd.DataFrame:
    """``model, task, node, presence``: at how many checkpoints each node is in the circuit."""
    member = edges[edges["in_circuit"].astype(bool)]
    if member.empty:
        return pd.DataFrame(columns=["model", "task", "node", "presence"])
    parts = member["edge"].astype(str).str.split("->", n=1, expand=True)
    keys = member[["model", "task", "revision"]].reset_index(drop=True)
    ends = pd.concat(
        [
            keys.assign(node=parts[0].to_numpy()),
            keys.assign(node=parts[1].str.replace(r"<[qkv]>$", "", regex=True).to_numpy()),
        ]
    ).drop_duplicates()
    counts = ends.groupby(["model", "task", "node"]).size().rename("presence")
    return counts.reset_index()


def _choose(peaks: pd.DataFrame, presence: dict[str, int]) -> pd.Series | None:
    top = peaks["peak"].max()
    if not pd.notna(top) or top <= 0:
        return None
    candidates = peaks[peaks["peak"] >= CANDIDATE_FRACTION * top].copy()
    nodes = "a" + candidates["layer"].astype(str) + ".h" + candidates["head"].astype(str)
    candidates["presence"] = [presence.get(node, 0) for node in nodes]
    ranked = candidates.sort_values(
        ["presence", "peak", "layer", "head"], ascending=[False, False, True, True]
    )
    return ranked.iloc[0]


def emergent_heads(heads: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task, score): the head the rule picks (see the module docstring)."""
    presence = circuit_presence(edges)
    tasks = sorted(set(edges["task"].astype(str)))
    rows = []
    for (model, score), frame in heads.groupby(["model", "score"], sort=True):
        peaks = frame.groupby(["layer", "head"], as_index=False)["value"].max()
        peaks = peaks.rename(columns={"value": "peak"})
        for task in tasks:
            found = presence[(presence["model"] == model) & (presence["task"] == task)]
            chosen = _choose(peaks, dict(zip(found["node"], found["presence"], strict=True)))
            if chosen is not None:
                rows.append(
                    [
                        model,
                        task,
                        score,
                        int(chosen["layer"]),
                        int(chosen["head"]),
                        int(chosen["presence"]),
                        float(chosen["peak"]),
                    ]
                )
    return pd.DataFrame(rows, columns=COLUMNS)
