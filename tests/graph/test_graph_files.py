"""EAP-IG JSON and safetensors: exact round trips, the EAP-IG edge set, validation errors."""

from __future__ import annotations

import json

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph, GraphLayout

from .graph_testing import LAYOUTS, random_graph

TRICKY_FLOATS = [0.1, 1 / 3, -2.5e-8, 1e-45, 3.4028234663852886e38, -1.1754943508222875e-38, 7.0]


def eap_ig_edge_names(n_layers: int, n_heads: int, parallel: bool) -> set[str]:
    """The edge names hannamw/EAP-IG's ``Graph.from_model`` creates (its loops, restated)."""
    names, residual = set(), ["input"]
    for layer in range(n_layers):
        heads = [f"a{layer}.h{h}" for h in range(n_heads)]
        for node in residual:
            names |= {f"{node}->{head}<{qkv}>" for head in heads for qkv in "qkv"}
        if parallel:
            names |= {f"{node}->m{layer}" for node in residual}
            residual = residual + heads
        else:
            residual = residual + heads
            names |= {f"{node}->m{layer}" for node in residual}
        residual.append(f"m{layer}")
    return names | {f"{node}->logits" for node in residual}


def graph_with_tricky_scores(layout: GraphLayout) -> CircuitGraph:
    graph = random_graph(layout, seed=5).select("greedy", n=12)
    scores = graph.scores.clone()
    real = layout.real_edges.nonzero()
    for (src, dst), value in zip(real.tolist(), TRICKY_FLOATS, strict=False):
        scores[src, dst] = value
    return CircuitGraph(layout, scores, graph.in_graph, d_model=64)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_json_round_trip_is_exact(name, tmp_path):
    graph = graph_with_tricky_scores(LAYOUTS[name])
    loaded = CircuitGraph.load_json(graph.save_json(tmp_path / "graph.json"))
    assert loaded.layout == graph.layout and loaded.d_model == 64
    assert torch.equal(loaded.scores, graph.scores)  # bit-exact float32
    assert torch.equal(loaded.in_graph, graph.in_graph)


@pytest.mark.parametrize("parallel", [True, False])
def test_json_has_the_eap_ig_keys_and_every_edge_of_its_graph(parallel, tmp_path):
    layout = GraphLayout(n_layers=3, n_heads=2, n_kv_heads=2, parallel_attn_mlp=parallel)
    graph = random_graph(layout).select("topn", n=10)
    data = json.loads(graph.save_json(tmp_path / "graph.json").read_text())
    assert data["cfg"] == {
        "n_layers": 3,
        "n_heads": 2,
        "parallel_attn_mlp": parallel,
        "n_kv_heads": 2,
    }
    assert set(data["edges"]) == eap_ig_edge_names(3, 2, parallel)
    assert sum(edge["in_graph"] for edge in data["edges"].values()) == graph.n_edges_in_graph
    for edge_name, edge in data["edges"].items():
        assert edge["score"] == graph.scores[layout.parse_edge(edge_name)].item()
    assert data["nodes"] == {name: {"in_graph": flag} for name, flag in graph.node_in_graph.items()}


def test_json_loads_older_eap_ig_node_format_and_missing_n_kv_heads(tmp_path):
    layout = LAYOUTS["parallel"]
    data = json.loads(random_graph(layout).save_json(tmp_path / "g.json").read_text())
    del data["cfg"]["n_kv_heads"]
    data["nodes"] = {name: entry["in_graph"] for name, entry in data["nodes"].items()}
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert CircuitGraph.load_json(tmp_path / "old.json").layout == layout


def write_edited(tmp_path, edit) -> str:
    graph = random_graph(LAYOUTS["sequential"])
    data = json.loads(graph.save_json(tmp_path / "g.json").read_text())
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return str(path)


def _set(mapping, key, value):
    mapping[key] = value


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("edges"), "needs the keys cfg, nodes and edges"),
        (lambda d: _set(d["cfg"], "n_layers", 3), "lacks .* edges, e.g."),
        (lambda d: d["cfg"].pop("n_heads"), "cfg.n_heads must be an integer >= 1, got None"),
        (lambda d: _set(d["cfg"], "parallel_attn_mlp", "yes"), "parallel_attn_mlp must be true"),
        (lambda d: _set(d["cfg"], "n_kv_heads", 3), "multiple of n_kv_heads"),
        (lambda d: d["edges"].pop("input->logits"), "lacks 1 of the cfg's 46 edges"),
        (
            lambda d: _set(d["edges"], "a0.h9->logits", {"score": 0, "in_graph": False}),
            "unknown source node 'a0.h9'",
        ),
        (
            lambda d: _set(d["edges"], "m1->m0", {"score": 0, "in_graph": False}),
            "m1 is not upstream of m0",
        ),
        (
            lambda d: _set(d["edges"], "input->logits", {"score": None, "in_graph": False}),
            "needs a numeric 'score', got None",
        ),
        (
            lambda d: _set(d["edges"], "input->logits", {"score": 1.0, "in_graph": 1}),
            "needs 'in_graph' true or false",
        ),
        (lambda d: _set(d["nodes"], "a7.h0", True), "'nodes' has 1 names not in"),
    ],
)
def test_bad_json_fails_with_a_usage_error_naming_file_and_problem(tmp_path, edit, message):
    path = write_edited(tmp_path, edit)
    with pytest.raises(UsageError, match=message) as error:
        CircuitGraph.load_json(path)
    assert str(error.value).startswith(path)


def test_unreadable_json_files(tmp_path):
    with pytest.raises(UsageError, match="no graph file"):
        CircuitGraph.load_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        CircuitGraph.load_json(tmp_path / "bad.json")


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_safetensors_round_trip_is_exact(name, tmp_path):
    graph = graph_with_tricky_scores(LAYOUTS[name])
    loaded = CircuitGraph.load_safetensors(graph.save_safetensors(tmp_path / "g.safetensors"))
    assert loaded.layout == graph.layout and loaded.d_model == 64
    assert torch.equal(loaded.scores, graph.scores)
    assert torch.equal(loaded.in_graph, graph.in_graph)


def test_bad_safetensors_files(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(UsageError, match="no graph file"):
        CircuitGraph.load_safetensors(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(UsageError, match="is not a safetensors file"):
        CircuitGraph.load_safetensors(tmp_path / "junk.safetensors")
    save_file({"weights": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UsageError, match="not a mechcirc circuit graph"):
        CircuitGraph.load_safetensors(tmp_path / "other.safetensors")


@pytest.mark.parametrize("layout", [GraphLayout(3, 4, 2, False), GraphLayout(1, 1, 1, True)])
def test_layout_round_trips_through_its_dict(layout):
    assert GraphLayout.from_dict(layout.to_dict()) == layout
    assert GraphLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"n_layers": 0, "n_heads": 2, "parallel_attn_mlp": False}, "n_layers must be an integer"),
        ({"n_layers": 2, "n_heads": 3, "n_kv_heads": 2, "parallel_attn_mlp": False}, "multiple"),
        ({"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": "no"}, "true or false"),
        ([2, 2], "must be an object"),
    ],
)
def test_a_bad_layout_dict_names_the_field(cfg, message):
    with pytest.raises(UsageError, match=message):
        GraphLayout.from_dict(cfg)
