"""Evolution metrics on hand-built circuits with known overlaps, and against an independent
computation from an edges table."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from mechcirc.sweep.evolution import EVOLUTION_COLUMNS, evolution_table, weighted_jaccard

E1, E2, E3 = "input->a0.h0<q>", "a0.h0->logits", "input->logits"


def tables(circuits: dict[tuple[str, str, int], dict[str, float]], extra_edges=()):
    keys = sorted(circuits)
    circuit_rows = [{"model": m, "task": t, "step": s, "tokens": 2 * s} for m, t, s in keys]
    edge_rows = [
        {"model": m, "task": t, "step": s, "edge": e, "score": v, "in_circuit": True}
        for (m, t, s) in keys
        for e, v in circuits[(m, t, s)].items()
    ]
    edge_rows += [{**row, "in_circuit": False} for row in extra_edges]
    return pd.DataFrame(circuit_rows), pd.DataFrame(edge_rows)


def test_known_overlaps_give_the_hand_computed_values():
    circuits = {
        ("m", "t", 0): {E1: 1.0, E2: -1.0},
        ("m", "t", 10): {E1: 2.0, E3: 2.0},
        ("m", "t", 20): {E1: 1.0, E2: 3.0},
    }
    # an edge outside every circuit (in the top-k of edges.parquet only) changes nothing
    noise = [{"model": "m", "task": "t", "step": 10, "edge": E2, "score": 9.0}]
    frame = evolution_table(*tables(circuits, noise))
    assert list(frame.columns) == list(EVOLUTION_COLUMNS)
    assert frame["tokens"].tolist() == [0, 20, 40]
    first, middle, last = (frame.iloc[i] for i in range(3))
    assert all(pd.isna(first[c]) for c in frame.columns if c.endswith("_prev"))
    assert middle["jaccard_edges_prev"] == pytest.approx(1 / 3)
    assert middle["jaccard_nodes_prev"] == 1.0  # same nodes: input, a0.h0, logits
    assert middle["weighted_jaccard_prev"] == pytest.approx(1 / 3)
    assert middle["edit_distance_prev"] == 2
    assert middle["change_rate_ewma_prev"] == pytest.approx(0.5 * (2 / 3))
    assert last["weighted_jaccard_prev"] == pytest.approx(0.25 / 1.75)
    assert last["change_rate_ewma_prev"] == pytest.approx(0.5 * (6 / 7) + 0.5 * (1 / 3))
    assert first["jaccard_edges_final"] == 1.0 and first["edit_distance_final"] == 0
    assert first["weighted_jaccard_final"] == pytest.approx(0.75 / 1.25)
    assert first["change_rate_ewma_final"] == pytest.approx(0.5 * 0.4)
    assert middle["change_rate_ewma_final"] == pytest.approx(0.5 * (6 / 7) + 0.5 * 0.2)
    assert last["weighted_jaccard_final"] == 1.0
    assert last["change_rate_ewma_final"] == pytest.approx(0.5 * (0.5 * (6 / 7) + 0.1))


def test_empty_circuits_have_zero_similarity_as_in_the_authors_code():
    circuits = {("m", "t", 0): {}, ("m", "t", 5): {}, ("m", "t", 9): {E1: 1.0}}
    frame = evolution_table(*tables(circuits))
    assert frame["jaccard_edges_prev"].tolist()[1:] == [0.0, 0.0]
    assert frame["weighted_jaccard_final"].tolist() == [0.0, 0.0, 1.0]
    assert frame["edit_distance_final"].tolist() == [1, 1, 0]
    assert weighted_jaccard({}, {}) == 0.0


def _reference(circuits):
    """Straight from the definitions, one comparison at a time."""

    def weights(c):
        total = sum(abs(v) for v in c.values())
        return {e: abs(v) / total for e, v in c.items()}

    def nodes(c):
        return {p for e in c for p in (e.split("->")[0], e.split("->")[1].split("<")[0])}

    def jac(a, b):
        return len(a & b) / len(a | b) if a | b else 0.0

    def wjac(a, b):
        wa, wb = weights(a) if a else {}, weights(b) if b else {}
        keys = set(wa) | set(wb)
        top = sum(max(wa.get(k, 0), wb.get(k, 0)) for k in keys)
        return sum(min(wa.get(k, 0), wb.get(k, 0)) for k in keys) / top if top else 0.0

    rows = {}
    for model, task in sorted({(m, t) for m, t, _ in circuits}):
        steps = sorted(s for m, t, s in circuits if (m, t) == (model, task))
        final = circuits[(model, task, steps[-1])]
        ewma_p = ewma_f = 0.0
        for i, step in enumerate(steps):
            c = circuits[(model, task, step)]
            ewma_f = 0.5 * (1 - wjac(c, final)) + 0.5 * ewma_f
            row = {
                "jaccard_edges_final": jac(set(c), set(final)),
                "jaccard_nodes_final": jac(nodes(c), nodes(final)),
                "weighted_jaccard_final": wjac(c, final),
                "edit_distance_final": len(set(c) ^ set(final)),
                "change_rate_ewma_final": ewma_f,
            }
            if i:
                p = circuits[(model, task, steps[i - 1])]
                ewma_p = 0.5 * (1 - wjac(p, c)) + 0.5 * ewma_p
                row |= {
                    "jaccard_edges_prev": jac(set(p), set(c)),
                    "jaccard_nodes_prev": jac(nodes(p), nodes(c)),
                    "weighted_jaccard_prev": wjac(p, c),
                    "edit_distance_prev": len(set(p) ^ set(c)),
                    "change_rate_ewma_prev": ewma_p,
                }
            rows[(model, task, step)] = row
    return rows


def test_random_circuits_match_an_independent_computation():
    rng = random.Random(0)
    pool = [f"a{layer}.h{h}->m{layer + 1}" for layer in range(3) for h in range(4)]
    pool += [
        f"input->a{layer}.h{h}<{kind}>" for layer in range(3) for h in range(2) for kind in "qkv"
    ]
    circuits = {
        (model, task, step): {e: rng.uniform(-2, 2) for e in rng.sample(pool, rng.randint(0, 12))}
        for model in ("small", "large")
        for task in ("ioi", "greater-than")
        for step in (0, 1, 2, 4, 1000, 3000)
    }
    frame = evolution_table(*tables(circuits))
    expected = _reference(circuits)
    assert len(frame) == len(expected)
    for row in frame.itertuples(index=False):
        for column, value in expected[(row.model, row.task, row.step)].items():
            assert getattr(row, column) == pytest.approx(value, abs=1e-12), column
