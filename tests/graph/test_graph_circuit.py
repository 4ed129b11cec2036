"""CircuitGraph construction, validation and membership views."""

from __future__ import annotations

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph, GraphLayout
from tests.shape_checks import unchecked

from .graph_testing import LAYOUTS, edge_mask, random_graph

LAYOUT = LAYOUTS["sequential"]


def zeros(dtype=torch.float32):
    return torch.zeros(LAYOUT.n_src, LAYOUT.n_dst, dtype=dtype)


def test_scores_are_stored_as_float32_copies_and_in_graph_defaults_to_empty():
    scores = torch.randn(LAYOUT.n_src, LAYOUT.n_dst, dtype=torch.float64) * LAYOUT.real_edges
    graph = CircuitGraph(LAYOUT, scores)
    assert graph.scores.dtype == torch.float32
    assert torch.equal(graph.scores, scores.float())
    assert graph.in_graph.dtype == torch.bool and graph.n_edges_in_graph == 0
    scores.zero_()
    assert graph.scores.abs().sum() > 0  # not a view of the caller's tensor
    same_dtype = torch.randn(LAYOUT.n_src, LAYOUT.n_dst) * LAYOUT.real_edges
    CircuitGraph(LAYOUT, same_dtype).scores.zero_()
    assert same_dtype.abs().sum() > 0  # float32 input is copied too


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (torch.zeros(3, 4), r"shape \[n_src, n_dst\] = \[7, 15\] for this layout, got \[3, 4\]"),
        ([[0.0]], "must be a torch tensor"),
        (torch.zeros(7, 15, dtype=torch.long), "floating-point"),
    ],
)
def test_bad_scores_name_the_expected_shape_or_type(scores, message):
    with unchecked(), pytest.raises(UsageError, match=message):
        CircuitGraph(LAYOUT, scores)


def test_scores_off_real_edges_or_not_finite_are_rejected_with_an_example_edge():
    scores = zeros()
    scores[LAYOUT.src_index("m1"), LAYOUT.dst_index("m0")] = 1.0
    with pytest.raises(UsageError, match="m1->m0"):
        CircuitGraph(LAYOUT, scores)
    scores = zeros()
    scores[LAYOUT.parse_edge("a0.h1->a1.h0<k>")] = float("nan")
    with pytest.raises(UsageError, match=r"finite; 1 are not, e.g. a0.h1->a1.h0<k>"):
        CircuitGraph(LAYOUT, scores)


def test_in_graph_must_be_bool_and_only_on_real_edges():
    with unchecked(), pytest.raises(UsageError, match="bool"):
        CircuitGraph(LAYOUT, zeros(), zeros())
    mask = zeros(torch.bool)
    mask[LAYOUT.src_index("a1.h0"), LAYOUT.dst_index("a0.h0<q>")] = True
    with pytest.raises(UsageError, match="a1.h0->a0.h0<q>"):
        CircuitGraph(LAYOUT, zeros(), mask)
    with pytest.raises(UsageError, match="GraphLayout"):
        CircuitGraph("2 layers", zeros())


def test_node_in_graph_uses_eap_ig_names_and_rules():
    mask = edge_mask(LAYOUT, ["input->a0.h1<v>", "a0.h1->m0", "m0->logits"])
    graph = CircuitGraph(LAYOUT, zeros(), mask)
    assert list(graph.node_in_graph) == [
        "input",
        "a0.h0",
        "a0.h1",
        "m0",
        "a1.h0",
        "a1.h1",
        "m1",
        "logits",
    ]
    assert {name for name, flag in graph.node_in_graph.items() if flag} == {
        "input",
        "a0.h1",
        "m0",
        "logits",
    }


def test_in_graph_edges_lists_names_and_scores_strongest_first():
    graph = random_graph(LAYOUT).select("topn", n=6, prune=False)
    listed = graph.in_graph_edges()
    assert len(listed) == 6
    magnitudes = [abs(score) for _, score in listed]
    assert magnitudes == sorted(magnitudes, reverse=True)
    for name, score in listed:
        assert graph.scores[LAYOUT.parse_edge(name)].item() == score


def test_from_model_reads_layout_and_d_model(tiny):
    model = tiny("llama")
    layout = GraphLayout.from_model(model)
    graph = CircuitGraph.from_model(model, torch.zeros(layout.n_src, layout.n_dst))
    assert graph.layout == layout and layout.n_kv_heads == 2
    assert graph.d_model == model.cfg.d_model
    assert "edges in graph: 0/" in repr(graph)
