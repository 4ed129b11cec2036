"""Pruning: hand-built graphs with known answers, and the path invariant on random masks."""

from __future__ import annotations

import pytest
import torch

from mechcirc.graph import GraphLayout
from mechcirc.graph.pruning import nodes_in_graph, prune

from .graph_testing import LAYOUTS, edge_mask, edge_names, on_complete_paths

SEQUENTIAL = LAYOUTS["sequential"]


def test_prune_keeps_a_complete_chain_and_drops_dangling_edges_iteratively():
    chain = ["input->a0.h0<q>", "input->a0.h0<k>", "a0.h0->a1.h1<v>", "a1.h1->logits"]
    dangling = [
        "a0.h1->m1",  # a0.h1 is not fed and m1 reaches nothing
        "input->m0",  # m0 has no outgoing edge ...
        "a0.h0->m0",
        "m0->a1.h0<q>",  # ... until a1.h0 (no outgoing edge) loses this one
    ]
    mask = edge_mask(SEQUENTIAL, chain + dangling)
    before = mask.clone()
    assert edge_names(SEQUENTIAL, prune(mask, SEQUENTIAL)) == set(chain)
    assert torch.equal(mask, before)  # the input mask is not modified


def test_prune_of_a_headless_edge_to_the_logits_is_empty():
    mask = edge_mask(SEQUENTIAL, ["a1.h0->logits", "m0->logits"])
    assert not prune(mask, SEQUENTIAL).any()


def test_prune_with_grouped_query_attention_feeds_every_head_of_the_kv_group():
    layout = GraphLayout(n_layers=1, n_heads=4, n_kv_heads=2, parallel_attn_mlp=True)
    kept = ["input->a0.h0<k>", "a0.h1->logits"]  # KV head 0 feeds query heads 0 and 1
    dropped = ["input->a0.h1<v>"]  # KV head 1 feeds heads 2, 3: neither has an outgoing edge
    mask = edge_mask(layout, kept + dropped)
    assert edge_names(layout, prune(mask, layout)) == set(kept)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("density", [0.05, 0.2, 0.5])
def test_prune_keeps_exactly_the_edges_on_input_to_logits_paths(name, density):
    layout = LAYOUTS[name]
    generator = torch.Generator().manual_seed(int(density * 100))
    for _ in range(5):
        draw = torch.rand(layout.n_src, layout.n_dst, generator=generator) < density
        mask = draw & layout.real_edges
        pruned = prune(mask, layout)
        assert edge_names(layout, pruned) == on_complete_paths(layout, mask)
        assert torch.equal(prune(pruned, layout), pruned)  # a fixed point


def test_nodes_in_graph_follows_eap_ig():
    mask = edge_mask(SEQUENTIAL, ["input->a0.h0<q>", "a0.h0->logits", "a1.h0->logits"])
    names = [*SEQUENTIAL.src_names, "logits"]
    flags = dict(zip(names, nodes_in_graph(mask, SEQUENTIAL).tolist(), strict=True))
    # a1.h0 has an outgoing edge but is not fed: EAP-IG leaves it out of the graph
    assert {name for name, flag in flags.items() if flag} == {"input", "a0.h0", "logits"}
    empty = torch.zeros_like(mask)
    assert nodes_in_graph(empty, SEQUENTIAL).tolist() == [False] * SEQUENTIAL.n_src + [True]
