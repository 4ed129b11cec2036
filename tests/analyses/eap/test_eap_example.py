"""examples/eap_circuit.py --quick: the numbers it prints are the pipeline's and check out
against independent recomputation (exact patching, a fresh faithfulness evaluation)."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, exact_scores
from mechcirc.graph import CircuitGraph
from mechcirc.models.tiny import tiny_model
from mechcirc.tasks import load_pairs
from tests.examples.runner import example_main, number


@pytest.mark.slow
def test_eap_example_quick(tmp_path, capsys):
    found = example_main("eap_circuit.py")(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    model = tiny_model("gpt-neox", n_layers=2)
    pairs = load_pairs("ioi", model.tokenizer, n=8, seed=0)
    real = found.attribution.graph.layout.real_edges
    exact = exact_scores(model, pairs)[real].double()
    for method, label in (("eap-ig-inputs", "eap-ig-inputs"), ("eap", "eap")):
        scores = attribute(model, pairs, method, ig_steps=5, progress=False).scores[real]
        expected = float(torch.corrcoef(torch.stack([scores.double(), exact]))[0, 1])
        printed = number(out, rf"Pearson with exact patching:.*?{label} ([-\d.]+)")
        assert printed == pytest.approx(expected, abs=1e-3)
    assert number(out, r"eap-ig-inputs ([-\d.]+)") >= 0.95  # EAP-IG tracks the ground truth
    graph = CircuitGraph.load_json(tmp_path / "graph.json")
    assert graph.n_edges_in_graph == number(out, r"circuit of (\d+) edges") == 24
    again = FaithfulnessEvaluator(model, pairs).evaluate(graph.in_graph)
    assert number(out, r"normalized faithfulness ([-\d.]+)") == pytest.approx(
        again.normalized, abs=1e-3
    )
    assert number(out, r"clean ([-\d.]+),") == pytest.approx(again.clean, abs=1e-4)
    assert (tmp_path / "circuit.svg").read_text().lstrip().startswith(("<svg", "<?xml"))
