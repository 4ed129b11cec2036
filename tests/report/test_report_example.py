"""examples/report_pages.py writes a run's report page and prints what it holds."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from mechcirc.graph import CircuitGraph

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "report_pages.py"


@pytest.mark.slow
def test_report_example(tmp_path, capsys):
    namespace = runpy.run_path(str(EXAMPLE))  # defines main() without running it
    namespace["main"](["--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    graph = CircuitGraph.load_json(tmp_path / "run" / "graph.json")
    stored, total, member = map(
        int, re.search(r"edges stored: (\d+) of (\d+); in the circuit: (\d+)", out).groups()
    )
    assert total == graph.layout.n_edges and member == graph.n_edges_in_graph == 40
    assert stored == total  # a tiny model's graph has fewer than 2,000 edges: all are kept
    assert "example prompts shown: 8" in out
    assert (tmp_path / "run" / "report.html").stat().st_size > 1e6  # plotly.js inlined
