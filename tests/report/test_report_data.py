"""What the pages store, checked against the folders' files (no browser)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph, GraphLayout
from mechcirc.report import report_kind, run_report_data, sweep_report_data, write_report
from mechcirc.report.circuit_data import CircuitIndex, ModelShape, edge_selection, parse_edge
from mechcirc.report.emergence import emergent_heads
from mechcirc.report.page import plotly_bundle
from mechcirc.report.run_report import node_table
from mechcirc.report.sweep_folder import read_sweep
from mechcirc.views import circuitsvis_bundle

from .conftest import LARGE_CIRCUIT, MICRO
from .synthetic_sweep import write_synthetic_run


def _decoded(graph: dict, selection: dict) -> list[tuple[str, float, int]]:
    names = graph["edges"]["name"]
    return [
        (names[e], s, c)
        for e, s, c in zip(selection["e"], selection["s"], selection["c"], strict=True)
    ]


def test_edge_selection_keeps_the_circuit_and_the_strongest_edges():
    index = CircuitIndex(ModelShape(n_layers=2, n_heads=2))
    names = ["input->a0.h0<q>", "input->a0.h1<k>", "a0.h0->m1", "m0->logits", "a1.h1->logits"]
    scores = [0.5, -3.0, 0.01, 2.0, -0.2]
    member = [False, False, True, False, True]
    selection = edge_selection(index, names, scores, member, max_edges=2)
    decoded = _decoded(index.to_json(), selection)
    # the two strongest, then the weaker circuit edges, by |score|
    assert decoded == [
        ("input->a0.h1<k>", -3.0, 0),
        ("m0->logits", 2.0, 0),
        ("a1.h1->logits", -0.2, 1),
        ("a0.h0->m1", 0.01, 1),
    ]
    graph = index.to_json()
    kinds = [graph["kinds"][k] for k in graph["edges"]["kind"]]
    assert kinds == ["k", "logits", "logits", "mlp"]


def test_parse_edge_names_nodes_and_kinds():
    shape = ModelShape(n_layers=3, n_heads=4)
    edge = parse_edge("a0.h1->a2.h3<v>", shape)
    assert (edge.src, edge.dst, edge.kind) == ("a0.h1", "a2.h3", "v")
    grouped = ModelShape(n_layers=3, n_heads=4, n_kv_heads=2)
    assert parse_edge("m0->a2.h1<k>", grouped).dst == "a2.kv1"
    assert parse_edge("m0->a2.h1<q>", grouped).dst == "a2.h1"
    assert parse_edge("input->logits", shape).kind == "logits"
    with pytest.raises(UsageError, match="edge names look like"):
        parse_edge("a0.h1->a2.h3", shape)
    with pytest.raises(UsageError, match="beyond the model's 3"):
        parse_edge("a3.h0->logits", shape)


def test_sweep_page_stores_each_checkpoints_edges_and_heads(micro_sweep):
    data = sweep_report_data(micro_sweep, max_edges=25)
    edges = pd.read_parquet(micro_sweep / "edges.parquet")
    heads = pd.read_parquet(micro_sweep / "heads.parquet")
    assert list(data["models"]) == list(MICRO.models) and data["tasks"] == list(MICRO.tasks)
    for model, stored in data["models"].items():
        revisions = stored["checkpoints"]["revision"]
        assert revisions == [f"step{s}" for s in MICRO.steps]  # the failed unit has no rows
        for task in MICRO.tasks:
            for revision, selection in zip(revisions, stored["circuits"][task], strict=True):
                rows = edges[
                    (edges.model == model) & (edges.task == task) & (edges.revision == revision)
                ]
                order = rows.assign(m=rows.score.abs()).sort_values("m", ascending=False)
                expected = set(order.edge[:25]) | set(rows.edge[rows.in_circuit])
                decoded = _decoded(stored["graph"], selection)
                assert {name for name, _, _ in decoded} == expected
                by_name = rows.set_index("edge")
                for name, score, member in decoded:
                    assert score == pytest.approx(float(by_name.score[name]), rel=1e-3)
                    assert member == int(by_name.in_circuit[name])
                magnitudes = [abs(s) for _, s, _ in decoded]
                assert magnitudes == sorted(magnitudes, reverse=True)
        for score in stored["heads"]["scores"]:
            for i, revision in enumerate(revisions):
                rows = heads[(heads.model == model) & (heads.revision == revision)]
                rows = rows[rows.score == score]
                grid = np.asarray(stored["heads"]["values"][score][i])
                expected = np.full(grid.shape, np.nan)
                expected[rows["layer"], rows["head"]] = rows["value"]
                np.testing.assert_allclose(grid, expected, rtol=1e-3)


def test_every_figure_is_a_valid_plotly_figure(micro_sweep, large_run):
    sweep = sweep_report_data(micro_sweep)
    run = run_report_data(large_run)
    for figure in [*sweep["figures"].values(), *run["figures"].values()]:
        go.Figure(figure)  # raises on any property plotly does not know
    assert len(sweep["figures"]) == 5 * len(MICRO.tasks) + 3  # + IOI consistency B-D
    assert sum(len(t["x"]) for t in run["figures"]["faithfulness-curve"]["data"]) > 10


def test_component_emergence_picks_the_candidate_most_often_in_the_circuit():
    # a1.h0 peaks highest but is in the circuit once; a0.h1 reaches 50% of it and is in the
    # circuit three times; a0.h0 is in it four times but stays under 25% of the top.
    peaks = {(1, 0): [0.2, 1.0, 0.9], (0, 1): [0.1, 0.3, 0.5], (0, 0): [0.1, 0.2, 0.2]}
    heads = pd.DataFrame(
        [
            {
                "model": "m",
                "revision": f"r{i}",
                "layer": layer,
                "head": head,
                "score": "induction",
                "value": value,
            }
            for (layer, head), values in peaks.items()
            for i, value in enumerate(values)
        ]
    )
    member = {"a1.h0->logits": [0], "a0.h1->logits": [0, 1, 2], "a0.h0->m1": [0, 1, 2, 3]}
    edges = pd.DataFrame(
        [
            {"model": "m", "task": "ioi", "revision": f"r{i}", "edge": edge, "in_circuit": True}
            for edge, revisions in member.items()
            for i in revisions
        ]
    )
    chosen = emergent_heads(heads, edges)
    assert chosen[["layer", "head", "presence"]].values.tolist() == [[0, 1, 3]]


def test_node_table_counts_each_nodes_circuit_edges():
    layout = GraphLayout(n_layers=2, n_heads=2, n_kv_heads=2, parallel_attn_mlp=False)
    names = ["input->a0.h1<q>", "input->a0.h1<v>", "a0.h1->m0", "m0->logits", "a0.h1->logits"]
    scores = torch.zeros(layout.n_src, layout.n_dst)
    member = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.bool)
    for value, name in zip([1.0, -2.0, 0.5, 4.0, -0.25], names, strict=True):
        scores[layout.parse_edge(name)] = value
        member[layout.parse_edge(name)] = True
    table = node_table(CircuitGraph(layout, scores, member))
    rows = {row[0]: row[1:6] for row in table["rows"]}
    assert rows["a0.h1"] == [True, 2, 2, 3.0, 0.75]
    assert rows["m0"] == [True, 1, 1, 0.5, 4.0]
    assert rows["logits"] == [True, 2, 0, 4.25, 0.0]
    assert rows["input"] == [True, 0, 2, 0.0, 3.0]


def test_run_page_stores_the_circuit_and_the_strongest_other_edges(large_run):
    data = run_report_data(large_run, max_edges=100)
    graph = CircuitGraph.load_json(large_run / "graph.json")
    decoded = _decoded(data["graph"], data["selection"])
    assert sum(c for _, _, c in decoded) == graph.n_edges_in_graph == LARGE_CIRCUIT
    circuit = {name for name, _ in graph.in_graph_edges()}
    assert {name for name, _, c in decoded if c} == circuit
    assert len(decoded) == len(circuit | set(_strongest(graph, 100)))
    assert data["faithfulness"]["target"] == 0.8 and "search" not in data["faithfulness"]
    assert data["examples"][0] == ["10 11 12", "10 13 12", "14", "15"]  # ids: no tokenizer


def _strongest(graph: CircuitGraph, n: int) -> list[str]:
    src, dst = graph.layout.real_edges.nonzero(as_tuple=True)
    order = graph.scores[src, dst].abs().argsort(descending=True)[:n]
    return [graph.layout.edge_name(int(src[i]), int(dst[i])) for i in order]


def test_run_examples_show_as_text_with_a_tokenizer(large_run):
    class Letters:
        def decode(self, ids):
            return "".join(chr(ord("a") + i % 26) for i in ids)

    data = run_report_data(large_run, tokenizer=Letters())
    assert data["examples"][0] == ["klm", "knm", "o", "p"]


def test_pages_are_self_contained(micro_sweep, large_run, tmp_path):
    for folder in (micro_sweep, large_run):
        page = write_report(folder, tmp_path / f"{folder.name}.html").read_text()
        assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=|<link\b", page)
        data = re.search(
            r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
        )
        parsed = json.loads(data.group(1))  # strict JSON: no NaN
        assert parsed["kind"] == report_kind(folder)
        assert page.count(plotly_bundle()[-300:]) == 1  # inlined once
    sweep_page = (tmp_path / "micro.html").read_text()
    run_page = (tmp_path / "large.html").read_text()
    assert sweep_page.count(circuitsvis_bundle()[-300:]) == 1
    assert circuitsvis_bundle()[-300:] not in run_page  # no attention views on a run page
    assert "Failed units (2)" in sweep_page


def test_bad_folders_are_refused_with_what_is_wrong(tmp_path, micro_sweep):
    with pytest.raises(UsageError, match="neither a sweep folder"):
        report_kind(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(UsageError, match="expected format 'mechcirc-sweep'"):
        read_sweep(tmp_path)
    (tmp_path / "sweep.json").write_text((micro_sweep / "sweep.json").read_text())
    pd.DataFrame({"model": ["m"], "revision": ["r"]}).to_parquet(tmp_path / "heads.parquet")
    with pytest.raises(UsageError, match=r"heads.parquet lacks the columns \['step'"):
        read_sweep(tmp_path)


def test_a_sweep_without_some_tables_still_reports(tmp_path, micro_sweep):
    for name in ("sweep.json", "behaviour.parquet", "circuits.parquet", "edges.parquet"):
        (tmp_path / name).write_bytes((micro_sweep / name).read_bytes())
    data = sweep_report_data(tmp_path)
    assert data["missing"] == ["heads", "evolution"] and not data["attention"]
    assert data["models"]["micro-a"]["heads"]["scores"] == []
    assert data["consistency"] is None  # no ioi_consistency.parquet: no section


def test_size_of_a_large_run_page_is_bounded(tmp_path):
    layout = GraphLayout(n_layers=12, n_heads=12, n_kv_heads=12, parallel_attn_mlp=True)
    write_synthetic_run(tmp_path / "run", layout, circuit_edges=1000)
    page = write_report(tmp_path / "run")
    data = run_report_data(tmp_path / "run")
    assert len(data["selection"]["e"]) <= 1000 + 2000
    assert page.stat().st_size < 8e6
