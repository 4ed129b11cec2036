"""``find_circuit`` is the one implementation: the CLI, a notebook and ``rerun`` agree exactly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mechcirc import load_model
from mechcirc.analyses.eap import EAPConfig, find_circuit
from mechcirc.analyses.eap import pipeline as pipeline_module
from mechcirc.cli import main
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.models.hooks import hook_switches
from mechcirc.tasks import load_pairs

MODEL_ARGS = ["--model", "pythia-160m", "--revision", "step143000"]
SETTINGS = ["--n", "6", "--method", "eap-ig-inputs", "--ig-steps", "3", "--greedy", "25"]


def test_library_call_and_cli_give_identical_results(offline_env, tmp_path):
    out = tmp_path / "cli"
    assert main(["eap", *MODEL_ARGS, *SETTINGS, "--batch-size", "4", "--out", str(out)]) == 0
    model = load_model("pythia-160m", revision="step143000")
    pairs = load_pairs("ioi", model.tokenizer, n=6, seed=0)
    before = hook_switches(model)
    config = EAPConfig(ig_steps=3, batch_size=4, selection="greedy", n_edges=25)
    result = find_circuit(model, pairs, config, progress=False)
    assert hook_switches(model) == before  # the analysis leaves the model's switches alone
    on_disk = CircuitGraph.load_json(out / "graph.json")
    assert torch.equal(load_file(out / "scores.safetensors")["scores"], result.circuit.scores)
    assert torch.equal(on_disk.in_graph, result.circuit.in_graph)
    metrics = json.loads((out / "manifest.json").read_text())["metrics"]
    assert metrics["circuit"] == result.faithfulness.circuit
    assert metrics["normalized"] == result.faithfulness.normalized
    assert json.loads((out / "manifest.json").read_text())["config"] == config.to_dict()


def test_rerun_reproduces_the_scores_exactly(offline_env, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["eap", *MODEL_ARGS, *SETTINGS, "--out", str(first)]) == 0
    assert main(["rerun", str(first), "--out", str(second)]) == 0
    a, b = (json.loads((p / "graph.json").read_text()) for p in (first, second))
    assert a == b
    assert (first / "scores.safetensors").read_bytes() == (
        second / "scores.safetensors"
    ).read_bytes()
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["command"] == "eap"


def test_rerun_refuses_what_it_cannot_rerun(offline_env, tmp_path, capsys):
    assert main(["rerun", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text(json.dumps({"command": "view attention"}))
    assert main(["rerun", str(tmp_path)]) == 2
    assert "rerun supports eap" in capsys.readouterr().err


def test_a_failure_mid_run_is_recorded(offline_env, tmp_path, monkeypatch, capsys):
    def explode(*args, **kwargs):
        raise RuntimeError("injected failure during faithfulness")

    monkeypatch.setattr(pipeline_module, "FaithfulnessEvaluator", explode)
    out = tmp_path / "run"
    assert main(["eap", *MODEL_ARGS, *SETTINGS, "--out", str(out)]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == {
        "type": "RuntimeError",
        "message": "injected failure during faithfulness",
    }
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1]
        == "error: RuntimeError: injected failure during faithfulness (--debug shows the traceback)"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": 1.5}, r"target must be in \(0, 1\]"),
        ({"selection": "greedy"}, "n_edges must be a positive integer"),
        ({"selection": "threshold"}, "needs a threshold"),
        ({"threshold": 0.1}, "threshold applies to the threshold selection"),
        ({"criterion": "best"}, "criterion must be one of normalized, fraction-of-clean"),
        ({"method": "eapx"}, "method must be one of"),
    ],
)
def test_config_errors_name_the_field(changes, message):
    with pytest.raises(UsageError, match=message):
        EAPConfig(**changes)


def test_bad_values_exit_2_before_anything_loads(tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model must not load for a usage error")

    monkeypatch.setattr("mechcirc.models.spec.ModelSpec.load", never)
    cases = [
        ["--threshold", "nan"],
        ["--faithfulness-target", "1.5"],
        ["--task", "nope"],
    ]
    for extra in cases:
        assert main(["eap", *MODEL_ARGS, "--out", str(tmp_path / "r"), *extra]) == 2, extra
        assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "r").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "graph.json").write_text("{}")
    assert main(["eap", *MODEL_ARGS, "--out", str(taken)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert sorted(p.name for p in taken.iterdir()) == ["graph.json"]
