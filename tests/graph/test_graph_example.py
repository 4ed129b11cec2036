"""The graph example runs in quick mode and writes files that load back."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from mechcirc.graph import CircuitGraph

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "graph_select_and_render.py"


def run_example(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_example_quick_writes_a_20_edge_circuit(tmp_path):
    out = tmp_path / "demo"
    stdout = run_example("--quick", "--out", str(out))
    circuit = CircuitGraph.load_json(out / "graph.json")
    assert circuit.n_edges_in_graph == 20 and "edges in graph: 20/" in stdout
    again = CircuitGraph.load_safetensors(out / "scores.safetensors")
    assert (again.scores == circuit.scores).all()
    ET.parse(out / "circuit.svg")
    assert (out / "circuit.dot").read_text().startswith("digraph")
    # the example also reads graphs back in: threshold on the file just written
    run_example(
        "--graph",
        str(out / "graph.json"),
        "--method",
        "threshold",
        "--out",
        str(tmp_path / "again"),
    )
    assert (tmp_path / "again" / "circuit.svg").exists()
