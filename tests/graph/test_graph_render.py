"""SVG and Graphviz renderings: well-formed, one element per drawn edge, styles by kind and sign."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph

from .graph_testing import LAYOUTS, edge_mask, random_graph

SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    return root


def svg_edges(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}path") if "edge" in e.get("class", "").split()]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_svg_draws_one_path_per_in_graph_edge(name, tmp_path):
    circuit = random_graph(LAYOUTS[name]).select("greedy", n=15)
    root = parse_svg(circuit.save_svg(tmp_path / "c.svg").read_text())
    edges = svg_edges(root)
    assert len(edges) == circuit.n_edges_in_graph
    tooltips = {e.find(f"{SVG}title").text.split(":")[0] for e in edges}
    assert tooltips == {name for name, _ in circuit.in_graph_edges()}
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"input", "logits", "a0.h0", "m1", "query input", "negative score"} <= texts


def test_svg_styles_edges_by_destination_kind_sign_and_magnitude():
    layout = LAYOUTS["sequential"]
    names = ["input->a0.h0<q>", "input->a0.h0<k>", "a0.h0->m0", "m0->a1.h1<v>", "a1.h1->logits"]
    scores = torch.zeros(layout.n_src, layout.n_dst)
    for value, name in zip([1.0, -2.0, 3.0, -4.0, 8.0], names, strict=True):
        scores[layout.parse_edge(name)] = value
    circuit = CircuitGraph(layout, scores, edge_mask(layout, names))
    drawn = {e.find(f"{SVG}title").text: e for e in svg_edges(parse_svg(circuit.to_svg()))}
    strong, weak = drawn["a1.h1->logits: 8"], drawn["input->a0.h0<q>: 1"]
    assert float(strong.get("stroke-width")) > float(weak.get("stroke-width"))
    negative = drawn["m0->a1.h1<v>: -4"]
    assert negative.get("stroke-dasharray") and not strong.get("stroke-dasharray")
    assert "negative" in negative.get("class") and "v" in negative.get("class").split()
    colours = {e.get("class").split()[1]: e.get("stroke") for e in drawn.values()}
    assert len(set(colours.values())) == 5  # q, k, v, mlp, logits each have a colour


def test_svg_of_an_empty_circuit_shows_the_strongest_edges():
    graph = random_graph(LAYOUTS["parallel"])
    root = parse_svg(graph.to_svg(top_when_empty=7))
    assert len(svg_edges(root)) == 7
    caption = [t.text for t in root.iter(f"{SVG}text") if t.text and "no circuit" in t.text]
    assert caption == [f"no circuit selected: top 7 of {graph.layout.n_edges} edges by |score|"]
    zero = CircuitGraph(graph.layout, torch.zeros_like(graph.scores))
    assert svg_edges(parse_svg(zero.to_svg())) == []
    with pytest.raises(UsageError, match="top_when_empty must be an integer >= 0, got -1"):
        graph.to_dot(top_when_empty=-1)


def test_svg_marks_kv_heads_under_grouped_query_attention():
    layout = LAYOUTS["grouped"]
    root = parse_svg(random_graph(layout).select("topn", n=10).to_svg(title="GQA <test>"))
    markers = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "kv-port"]
    assert len(markers) == layout.n_layers * layout.n_kv_heads
    assert any(t.text == "GQA <test>" for t in root.iter(f"{SVG}text"))  # escaped, round trips


def dot_edges(text: str) -> list[str]:
    return [line for line in text.splitlines() if "->" in line and "tooltip=" in line]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_dot_has_one_edge_statement_per_in_graph_edge(name, tmp_path):
    circuit = random_graph(LAYOUTS[name]).select("greedy", n=15)
    text = circuit.save_dot(tmp_path / "c.dot").read_text()
    assert text.startswith("digraph circuit {") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    edges = dot_edges(text)
    assert len(edges) == circuit.n_edges_in_graph
    tooltips = {re.search(r'tooltip="([^:]*):', line).group(1) for line in edges}
    assert tooltips == {name for name, _ in circuit.in_graph_edges()}
    for line in edges:
        negative = "-" in re.search(r'tooltip="[^:]*: ([^"]*)"', line).group(1)
        assert ('style="dashed"' in line) == negative


def test_dot_routes_grouped_kv_edges_through_kv_head_nodes():
    layout = LAYOUTS["grouped"]
    mask = edge_mask(layout, ["input->a0.h1<k>", "a0.h2->logits", "input->a0.h2<q>"])
    scores = torch.where(mask, 1.0, 0.0)
    text = CircuitGraph(layout, scores, mask).to_dot()
    assert '"input" -> "a0.kv1" [' in text  # KV head 1 serves query heads 2 and 3
    assert '"a0.kv1" -> "a0.h2" [style=dotted' in text
    assert '"a0.kv1" -> "a0.h3" [style=dotted' in text
    assert '"input" -> "a0.h2" [' in text and 'headlabel="q"' in text
    assert '{ rank=same; "a0.h2"; }' in text
