"""Selection by top-n, threshold and greedy growth, against known answers and a reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph, GraphLayout
from mechcirc.graph.pruning import prune

from .graph_testing import (
    LAYOUTS,
    edge_mask,
    edge_names,
    random_graph,
    reference_greedy_order,
)

TINY = GraphLayout(n_layers=1, n_heads=1, n_kv_heads=1, parallel_attn_mlp=False)
TINY_SCORES = {  # every real edge of TINY
    "a0.h0->logits": 5.0,
    "m0->logits": 4.0,
    "a0.h0->m0": 3.0,
    "input->m0": 2.0,
    "input->a0.h0<q>": 1.0,
    "input->a0.h0<k>": 0.5,
    "input->a0.h0<v>": 0.2,
    "input->logits": 0.1,
}


def tiny_graph(signs: dict[str, float] | None = None) -> CircuitGraph:
    scores = torch.zeros(TINY.n_src, TINY.n_dst)
    for name, value in TINY_SCORES.items():
        scores[TINY.parse_edge(name)] = value * (signs or {}).get(name, 1.0)
    assert int((scores != 0).sum()) == TINY.n_edges
    return CircuitGraph(TINY, scores)


def selected(graph: CircuitGraph) -> set[str]:
    return edge_names(graph.layout, graph.in_graph)


def test_top_n_takes_the_largest_scores_and_prunes_unless_asked_not_to():
    graph = tiny_graph()
    top3 = {"a0.h0->logits", "m0->logits", "a0.h0->m0"}
    assert selected(graph.select("topn", n=3, prune=False)) == top3
    # a0.h0 has no input edge, so everything it feeds (and m0 after it) is dangling
    assert graph.select("topn", n=3).n_edges_in_graph == 0
    assert selected(graph.select("topn", n=5)) == set(TINY_SCORES) - {
        "input->a0.h0<k>",
        "input->a0.h0<v>",
        "input->logits",
    }


def test_signed_selection_ranks_negative_scores_last():
    graph = tiny_graph(signs={"a0.h0->logits": -1.0})
    assert selected(graph.select("topn", n=1, prune=False)) == {"a0.h0->logits"}
    assert selected(graph.select("topn", n=1, absolute=False, prune=False)) == {"m0->logits"}
    signed = graph.select("threshold", threshold=2.0, absolute=False, prune=False)
    assert selected(signed) == {"m0->logits", "a0.h0->m0", "input->m0"}
    absolute = graph.select("threshold", threshold=2.0, prune=False)
    assert selected(absolute) == selected(signed) | {"a0.h0->logits"}


def test_threshold_is_inclusive_and_prunes():
    graph = tiny_graph()
    assert graph.select("threshold", threshold=1.0, prune=False).n_edges_in_graph == 5
    assert graph.select("threshold", threshold=1.0).n_edges_in_graph == 5  # all connected
    assert graph.select("threshold", threshold=2.0).n_edges_in_graph == 2  # input->m0->logits
    assert graph.select("threshold", threshold=99.0).n_edges_in_graph == 0


def test_greedy_order_on_a_hand_built_graph():
    order = tiny_graph().greedy_order()
    names = [TINY.edge_name(s, d) for s, d in order.tolist()]
    assert names == list(TINY_SCORES)  # logits edges first, then edges into m0, then q/k/v


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, set()),
        (1, set()),  # no prefix prunes to exactly one edge
        (2, {"input->m0", "m0->logits"}),
        (3, {"input->m0", "m0->logits"}),  # the next step connects 3 edges at once
        (5, {"input->m0", "m0->logits", "input->a0.h0<q>", "a0.h0->logits", "a0.h0->m0"}),
        (8, set(TINY_SCORES)),
    ],
)
def test_greedy_with_pruning_grows_until_the_pruned_circuit_has_n_edges(n, expected):
    assert selected(tiny_graph().select("greedy", n=n)) == expected


def test_edge_counts_of_any_integer_type_are_accepted():
    graph = tiny_graph()
    expected = graph.select("topn", n=3, prune=False).in_graph
    assert torch.equal(graph.select("topn", n=np.int64(3), prune=False).in_graph, expected)
    assert graph.select("threshold", threshold=np.float32(2.0)).n_edges_in_graph == 2


def test_greedy_without_pruning_takes_the_first_n_edges():
    circuit = tiny_graph().select("greedy", n=3, prune=False)
    assert selected(circuit) == {"a0.h0->logits", "m0->logits", "a0.h0->m0"}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("absolute", [True, False])
def test_greedy_order_matches_the_reference_algorithm(name, absolute):
    graph = random_graph(LAYOUTS[name], seed=3)
    order = graph.greedy_order(absolute)
    names = [graph.layout.edge_name(s, d) for s, d in order.tolist()]
    assert names == reference_greedy_order(graph, absolute)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_greedy_with_pruning_is_the_longest_prefix_within_n(name):
    graph = random_graph(LAYOUTS[name], seed=1)
    layout, order = graph.layout, graph.greedy_order()
    prefix_sizes = []
    for length in range(layout.n_edges + 1):
        mask = edge_mask(layout, [layout.edge_name(s, d) for s, d in order[:length].tolist()])
        prefix_sizes.append(prune(mask, layout))
    exact = 0
    for n in range(0, layout.n_edges + 1, 3):
        longest = max(k for k, m in enumerate(prefix_sizes) if int(m.sum()) <= n)
        circuit = graph.select("greedy", n=n)
        assert torch.equal(circuit.in_graph, prefix_sizes[longest])
        exact += circuit.n_edges_in_graph == n
    assert exact >= 0.6 * len(range(0, layout.n_edges + 1, 3))  # usually exactly n


def test_select_returns_a_new_graph_and_leaves_the_original_alone():
    graph = random_graph(LAYOUTS["parallel"])
    scores, in_graph = graph.scores.clone(), graph.in_graph.clone()
    for method, kwargs in [
        ("topn", {"n": 10}),
        ("threshold", {"threshold": 1.0}),
        ("greedy", {"n": 10}),
    ]:
        circuit = graph.select(method, **kwargs)
        assert circuit is not graph and circuit.n_edges_in_graph > 0
        assert torch.equal(circuit.scores, scores)
        assert not (circuit.in_graph & ~graph.layout.real_edges).any()
    assert torch.equal(graph.in_graph, in_graph) and torch.equal(graph.scores, scores)


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("top-n", {"n": 3}, "choose one of topn, threshold, greedy"),
        ("topn", {}, "takes n"),
        ("topn", {"n": -1}, "n must be an integer edge count in 0..8"),
        ("greedy", {"n": 9}, "in 0..8"),
        ("greedy", {"n": 2.5}, "got 2.5"),
        ("topn", {"n": 2, "threshold": 0.1}, "no threshold"),
        ("threshold", {}, "takes threshold"),
        ("threshold", {"threshold": float("nan")}, "got nan"),
        ("threshold", {"threshold": "high"}, "must be a number"),
    ],
)
def test_bad_selection_arguments_name_the_problem(method, kwargs, message):
    with pytest.raises(UsageError, match=message):
        tiny_graph().select(method, **kwargs)
