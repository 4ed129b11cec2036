"""The graph example runs in quick mode and writes files that load back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mechcirc.graph import CircuitGraph
from tests.examples.runner import run_example

EXAMPLE = "graph_select_and_render.py"


@pytest.mark.slow
def test_example_quick_writes_a_20_edge_circuit(tmp_path):
    out = tmp_path / "demo"
    stdout = run_example(EXAMPLE, "--quick", "--out", str(out))
    circuit = CircuitGraph.load_json(out / "graph.json")
    assert circuit.n_edges_in_graph == 20 and "edges in graph: 20/" in stdout
    again = CircuitGraph.load_safetensors(out / "scores.safetensors")
    assert (again.scores == circuit.scores).all()
    ET.parse(out / "circuit.svg")
    assert (out / "circuit.dot").read_text().startswith("digraph")
    # the example also reads graphs back in: threshold on the file just written
    run_example(
        EXAMPLE,
        "--graph",
        str(out / "graph.json"),
        "--method",
        "threshold",
        "--out",
        str(tmp_path / "again"),
    )
    assert (tmp_path / "again" / "circuit.svg").exists()
