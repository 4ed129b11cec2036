"""examples/eap_circuit.py runs in quick mode and writes a graph that loads back."""

from __future__ import annotations

import runpy
from pathlib import Path

from mechcirc.graph import CircuitGraph

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "eap_circuit.py"


def test_eap_example_quick(tmp_path, capsys):
    namespace = runpy.run_path(str(EXAMPLE))  # defines main() without running it
    namespace["main"](["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Pearson with exact patching: eap-ig-inputs" in out
    assert "normalized faithfulness" in out
    graph = CircuitGraph.load_json(tmp_path / "graph.json")
    assert graph.n_edges_in_graph > 0
    assert (tmp_path / "circuit.svg").read_text().lstrip().startswith(("<svg", "<?xml"))
