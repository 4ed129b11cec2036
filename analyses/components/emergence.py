"""Component emergence and load balancing over training (Tigges et al. 2024, Sec. 3.2, 4.1).

Both read a long table of head scores over checkpoints with columns ``model``, ``step``,
``layer``, ``head``, ``score`` (e.g. ``induction``), ``value`` and ``in_circuit`` (the head is
in the task's circuit at that checkpoint).

- Emergence rule: the candidates for a score are the heads whose maximum value over training
  reaches ``fraction`` (25%) of the highest value any head reaches; of those, the head in the
  circuit at the most checkpoints represents the component (ties: the higher maximum). Its
  values over the checkpoints are the component's emergence curve.
- Load-balancing view: at each checkpoint, the ``top`` (5) in-circuit heads by value.

Example:
    >>> emergence = component_emergence(frame, "induction")      # doctest: +SKIP
    >>> emergence.head                                            # (layer, head) chosen per model
"""

from __future__ import annotations

import pandas as pd

from mechcirc.errors import UsageError

__all__ = ["COLUMNS", "component_emergence", "emergence_curve", "load_balancing", "scores_long"]

COLUMNS = ("model", "step", "layer", "head", "score", "value", "in_circuit")


def _check(frame: pd.DataFrame, score: str) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(f"the head-score table lacks columns {missing}; it needs {list(COLUMNS)}")
    rows = frame[frame["score"] == score]
    if rows.empty:
        raise UsageError(f"no rows for score {score!r}; scores: {sorted(frame['score'].unique())}")
    return rows


def component_emergence(frame: pd.DataFrame, score: str, fraction: float = 0.25) -> pd.DataFrame:
    """Per model, the head chosen by the emergence rule: columns ``model``, ``layer``, ``head``,
    ``max_value``, ``checkpoints_in_circuit`` and ``n_candidates``."""
    rows = _check(frame, score)
    chosen = []
    for model, group in rows.groupby("model", sort=True):
        per_head = group.groupby(["layer", "head"]).agg(
            max_value=("value", "max"), checkpoints_in_circuit=("in_circuit", "sum")
        )
        candidates = per_head[per_head["max_value"] >= fraction * group["value"].max()]
        best = candidates.sort_values(
            ["checkpoints_in_circuit", "max_value"], ascending=False
        ).iloc[0]
        layer, head = best.name
        chosen.append(
            {
                "model": model,
                "layer": int(layer),
                "head": int(head),
                "max_value": float(best["max_value"]),
                "checkpoints_in_circuit": int(best["checkpoints_in_circuit"]),
                "n_candidates": len(candidates),
            }
        )
    return pd.DataFrame(chosen)


def emergence_curve(frame: pd.DataFrame, score: str, fraction: float = 0.25) -> pd.DataFrame:
    """The chosen head's ``value`` at every checkpoint: ``model``, ``step``, ``layer``,
    ``head``, ``value``, ``in_circuit``."""
    rows = _check(frame, score)
    chosen = component_emergence(frame, score, fraction)[["model", "layer", "head"]]
    curve = rows.merge(chosen, on=["model", "layer", "head"])
    return curve[["model", "step", "layer", "head", "value", "in_circuit"]].sort_values(
        ["model", "step"], ignore_index=True
    )


def load_balancing(frame: pd.DataFrame, score: str, top: int = 5) -> pd.DataFrame:
    """At each (model, step), the ``top`` in-circuit heads by value, ranked from 1."""
    rows = _check(frame, score)
    rows = rows[rows["in_circuit"].astype(bool)]
    ranked = rows.sort_values(["model", "step", "value"], ascending=[True, True, False])
    ranked = ranked.groupby(["model", "step"], sort=True).head(top).copy()
    ranked["rank"] = ranked.groupby(["model", "step"]).cumcount() + 1
    return ranked[["model", "step", "rank", "layer", "head", "value"]].reset_index(drop=True)


def scores_long(components: pd.DataFrame, scores: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The long table the rules read, from ``components.parquet`` rows over checkpoints
    (columns ``model``, ``step``, ``layer``, ``head``, ``role`` and score columns). A head is
    ``in_circuit`` where the table says so (an ``in_circuit`` column, e.g. from the EAP-IG
    circuit) or, without one, where it has an IOI role at that checkpoint."""
    from .result import SCORE_COLUMNS

    scores = tuple(scores or (c for c in SCORE_COLUMNS if c in components.columns))
    keys = ["model", "step", "layer", "head"]
    missing = [c for c in [*keys, *scores] if c not in components.columns]
    if missing:
        raise UsageError(f"the components table lacks columns {missing}")
    table = components.copy()
    if "in_circuit" not in table.columns:
        table["in_circuit"] = table.get("role", pd.Series("none", index=table.index)) != "none"
    heads = table.groupby(keys, sort=True).agg(
        {**dict.fromkeys(scores, "first"), "in_circuit": "max"}
    )
    long = heads.reset_index().melt(
        id_vars=[*keys, "in_circuit"], value_vars=list(scores), var_name="score"
    )
    return long[list(COLUMNS)].sort_values(
        ["model", "score", "step", "layer", "head"], ignore_index=True
    )
