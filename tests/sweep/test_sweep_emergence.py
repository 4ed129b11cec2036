"""Component emergence: the paper's rule on hand-built head scores and circuits."""

from __future__ import annotations

import pandas as pd

from mechcirc.sweep.emergence import emergent_heads, top_heads

STEPS = (0, 10, 20)


def heads_table(values: dict[tuple[str, int, int], tuple[float, ...]], model="m"):
    return pd.DataFrame(
        [
            {"model": model, "score": score, "layer": layer, "head": head, "step": s, "value": v}
            for (score, layer, head), series in values.items()
            for s, v in zip(STEPS, series, strict=True)
        ]
    )


def edges_table(present: dict[int, list[str]], model="m"):
    rows = [
        {"model": model, "step": step, "task": "ioi", "edge": edge, "in_circuit": True}
        for step, edges in present.items()
        for edge in edges
    ]
    rows.append(
        {"model": model, "step": 0, "task": "ioi", "edge": "a0.h1->logits", "in_circuit": False}
    )  # outside the circuit: does not count
    return pd.DataFrame(rows)


def test_the_candidate_in_the_circuit_at_most_checkpoints_is_chosen():
    heads = heads_table(
        {
            ("induction", 0, 0): (0.0, 0.1, 0.2),  # below 25% of the global max 1.0
            ("induction", 0, 1): (0.0, 0.5, 1.0),  # the strongest, in one circuit
            ("induction", 1, 0): (0.3, 0.3, 0.3),  # a candidate, in two circuits
            ("induction", 1, 1): (0.0, 0.0, 0.24),
        }
    )
    edges = edges_table({10: ["a1.h0->logits"], 20: ["input->a1.h0<q>", "a0.h1->logits"]})
    chosen = emergent_heads(heads, edges)
    row = chosen.iloc[0]
    assert (row["model"], row["score"], row["layer"], row["head"]) == ("m", "induction", 1, 0)
    assert row.checkpoints_in_circuit == 2 and row.first_step == 0 and row.max_value == 0.3


def test_ties_go_to_the_head_that_reached_the_threshold_first():
    heads = heads_table(
        {
            ("copy", 0, 0): (0.0, 0.0, 0.9),
            ("copy", 1, 1): (0.0, 0.8, 0.8),  # reaches 0.25 * 0.9 at step 10
            ("copy", 1, 0): (0.0, 0.0, 0.0),
        }
    )
    chosen = emergent_heads(heads, edges_table({}))
    assert chosen[["layer", "head", "checkpoints_in_circuit"]].values.tolist() == [[1, 1, 0]]


def test_a_score_that_never_rises_above_zero_chooses_nothing():
    heads = heads_table({("cspa", 0, 0): (0.0, -0.1, 0.0), ("cspa", 0, 1): (0.0, 0.0, 0.0)})
    assert emergent_heads(heads, edges_table({})).empty


def test_top_heads_rank_by_maximum_over_training():
    heads = heads_table(
        {
            ("induction", 0, 0): (0.1, 0.2, 0.3),
            ("induction", 1, 1): (0.9, 0.1, 0.1),
            ("induction", 1, 0): (0.0, 0.0, 0.5),
        }
    )
    assert top_heads(heads, "m", "induction", k=2) == [(1, 1), (1, 0)]
