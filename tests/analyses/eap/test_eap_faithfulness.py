"""Faithfulness of circuits and the smallest-circuit search, on exact patching ground truth."""

from __future__ import annotations

import math

import pytest
import torch

from mechcirc.analyses.eap import (
    FaithfulnessEvaluator,
    attribute,
    select_circuit,
    smallest_circuit,
)
from mechcirc.analyses.eap import faithfulness as faithfulness_module
from mechcirc.errors import MechcircError, UsageError
from mechcirc.graph import CircuitGraph, GraphLayout

from .eap_reference import count_forwards, exact_edge_scores, random_pairs


def test_full_circuit_is_one_and_empty_circuit_is_zero(model):
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, random_pairs(), batch_size=4)
    full = evaluator.evaluate(layout.real_edges)
    empty = evaluator.evaluate(torch.zeros_like(layout.real_edges))
    assert abs(evaluator.clean - evaluator.corrupted) > 1e-3
    assert full.normalized == pytest.approx(1.0, abs=1e-4)
    assert empty.normalized == pytest.approx(0.0, abs=1e-4)
    assert full.circuit == pytest.approx(evaluator.clean, abs=1e-6)
    assert full.fraction_of_clean == pytest.approx(1.0, abs=1e-4)
    assert (full.n_edges, empty.n_edges) == (layout.n_edges, 0)


def test_circuit_without_one_edge_loses_that_edges_exact_effect(model):
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    edge = (layout.head_src(0, 1), layout.mlp_dst(1))
    in_graph = layout.real_edges.clone()
    in_graph[edge] = False
    evaluator = FaithfulnessEvaluator(model, pairs)
    expected = evaluator.clean - exact_edge_scores(model, pairs, [edge])[edge]
    assert evaluator.evaluate(in_graph).circuit == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("cached", [True, False])
def test_one_corrupted_and_one_patched_forward_per_batch(model, monkeypatch, cached):
    if not cached:
        monkeypatch.setattr(faithfulness_module, "CACHE_LIMIT_BYTES", 0)
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, random_pairs(n=6), batch_size=4)  # 2 batches
    calls = count_forwards(model)
    try:
        for n_edges in (1, layout.n_edges // 2):
            mask = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
            mask.view(-1)[layout.real_edges.view(-1).nonzero()[:n_edges, 0]] = True
            calls[0] = 0
            evaluator.evaluate(mask)
            assert calls[0] == (2 if cached else 4)
    finally:
        model.reset_hooks()


def test_smallest_circuit_reaches_the_target(model):
    pairs = random_pairs()
    graph = attribute(model, pairs, progress=False).graph
    evaluator = FaithfulnessEvaluator(model, pairs)
    search = smallest_circuit(evaluator, graph, target=0.8)
    n_edges = search.circuit.n_edges_in_graph
    assert search.reached and search.faithfulness.normalized >= 0.8
    assert search.faithfulness.n_edges == n_edges
    assert search.faithfulness.normalized == pytest.approx(
        evaluator.evaluate(graph.select("greedy", n=n_edges)).normalized
    )
    below = [point for point in search.evaluated if point["size"] == n_edges - 1]
    assert all(point["normalized"] < 0.8 for point in below)
    assert search.evaluated[-1]["size"] == graph.layout.n_edges


def test_equal_baselines_are_reported_not_divided_by(model):
    same = random_pairs()
    same = type(same)(**{**same.__dict__, "corrupted": same.clean})
    evaluator = FaithfulnessEvaluator(model, same)
    assert evaluator.baselines.equal and not evaluator.baselines.reliable
    assert "same mean metric" in evaluator.baselines.problem
    full = evaluator.evaluate(GraphLayout.from_model(model).real_edges)
    assert math.isnan(full.normalized)
    with pytest.raises(MechcircError, match="clean and corrupted runs give the same mean"):
        evaluator.baselines.check("normalized faithfulness")


def test_evaluator_errors(model):
    pairs = random_pairs()
    evaluator = FaithfulnessEvaluator(model, pairs)
    with pytest.raises(UsageError, match=r"in_graph must be \[n_src, n_dst\]"):
        evaluator.evaluate(torch.ones(2, 2, dtype=torch.bool))
    graph = CircuitGraph.from_model(
        model, torch.zeros(evaluator.parts.layout.n_src, evaluator.parts.layout.n_dst)
    )
    with pytest.raises(UsageError, match="faithfulness target must be in"):
        smallest_circuit(evaluator, graph, target=1.5)


def test_select_circuit_modes(model):
    pairs = random_pairs()
    graph = attribute(model, pairs, progress=False).graph
    evaluator = FaithfulnessEvaluator(model, pairs)
    top = select_circuit(evaluator, graph, "greedy", n=7)
    # pruned greedy growth may land one short when a step connects two edges at once
    assert 0 < top.circuit.n_edges_in_graph == top.faithfulness.n_edges <= 7
    assert top.selection == "greedy, 7 edges" and top.reached is None
    plain = select_circuit(evaluator, graph, "topn", n=7)
    assert torch.equal(plain.circuit.in_graph, graph.select("topn", n=7).in_graph)
    cutoff = float(graph.scores.abs().max()) / 2
    above = select_circuit(evaluator, graph, "threshold", threshold=cutoff)
    kept = graph.scores.abs()[above.circuit.in_graph]
    assert (kept >= cutoff).all() and above.selection == f"threshold {cutoff}"
    smallest = select_circuit(evaluator, graph, target=0.5)
    assert smallest.reached and smallest.faithfulness.normalized >= 0.5
    with pytest.raises(UsageError, match="selection must be one of"):
        select_circuit(evaluator, graph, "top_n", n=3)
    with pytest.raises(UsageError, match="needs n"):
        select_circuit(evaluator, graph, "greedy")


def test_fraction_of_clean_search_steps_then_refines(model):
    pairs = random_pairs()
    graph = attribute(model, pairs, progress=False).graph
    evaluator = FaithfulnessEvaluator(model, pairs)
    target = 0.9
    search = smallest_circuit(
        evaluator, graph, target=target, criterion="fraction-of-clean", step=10, cap=200
    )
    sizes = [point["size"] for point in search.evaluated]
    reached_at = search.size
    assert search.reached and search.faithfulness.fraction_of_clean >= target
    # every multiple of the step below the first size reaching the target was tried and failed
    coarse = [n for n in sizes if n % 10 == 0]
    first = min(n for n in coarse if n >= reached_at)
    assert coarse[: coarse.index(first) + 1] == list(range(10, first + 1, 10))
    assert all(
        p["fraction_of_clean"] < target
        for p in search.evaluated
        if p["size"] < first and p["size"] % 10 == 0
    )
    # refined between the last failing step and the first passing one
    assert first - 10 < reached_at <= first
    below = [p for p in search.evaluated if p["size"] == reached_at - 1]
    assert all(p["fraction_of_clean"] < target for p in below)
    capped = smallest_circuit(
        evaluator, graph, target=target, criterion="fraction-of-clean", step=1, cap=3
    )
    fractions = [
        evaluator.evaluate(graph.select("greedy", n=n)).fraction_of_clean for n in (1, 2, 3)
    ]
    assert capped.reached == any(f >= target for f in fractions)
    if not capped.reached:
        assert [p["size"] for p in capped.evaluated] == [1, 2, 3]
        assert capped.circuit.n_edges_in_graph <= 3  # greedy growth may land one short


def test_split_head_inputs_left_on_by_path_patching_do_not_change_scores(model):
    # A user (or code of theirs) may leave split q/k/v inputs on; attribution and faithfulness
    # must give what they give on a fresh model, and leave the flag as it was.
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    plain = attribute(model, pairs, "eap-ig-inputs", ig_steps=2, progress=False).scores
    top = CircuitGraph.from_model(model, plain).select("greedy", n=layout.n_edges // 4)
    expected = FaithfulnessEvaluator(model, pairs).evaluate(top).circuit
    model.set_use_split_qkv_input(True)
    try:
        split = attribute(model, pairs, "eap-ig-inputs", ig_steps=2, progress=False).scores
        circuit = FaithfulnessEvaluator(model, pairs).evaluate(top).circuit
        assert model.cfg.use_split_qkv_input
    finally:
        model.set_use_split_qkv_input(False)
    torch.testing.assert_close(split, plain, rtol=1e-4, atol=1e-6)
    assert circuit == pytest.approx(expected, abs=1e-5)
