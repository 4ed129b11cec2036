"""``mechcirc eap`` end to end on the offline hub: exit codes and every file of the run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mechcirc.cli import main
from mechcirc.graph import CircuitGraph
from mechcirc.models.tokenizers import pythia_tokenizer
from mechcirc.tasks import load_pairs
from mechcirc.tasks.io import read_jsonl

MODEL_ARGS = ["--model", "pythia-160m", "--revision", "step143000"]
RUN_FILES = (
    "manifest.json",
    "graph.json",
    "scores.safetensors",
    "examples.jsonl",
    "circuit.svg",
    "circuit.dot",
    "faithfulness.json",
    "report.html",
)


def test_acceptance_command_writes_the_run_folder(offline_env, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "eap",
                "--model",
                "pythia-160m",
                "--task",
                "ioi",
                "--revision",
                "step143000",
                "--greedy",
                "40",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "eap" and manifest["status"] == "done"
    assert set(manifest["outputs"]) == set(RUN_FILES) - {"manifest.json"}
    assert manifest["inputs"]["model"]["name"] == "pythia-160m"
    assert manifest["inputs"]["task"] == {"name": "ioi", "n": 32, "seed": 0}
    assert manifest["seed"] == 0 and manifest["config"]["method"] == "eap-ig-inputs"
    assert manifest["model"]["model_id"] == "EleutherAI/pythia-160m"
    assert manifest["model"]["revision"] == "step143000" and len(manifest["model"]["commit"]) == 40
    assert {"torch", "transformer-lens", "mechcirc"} <= set(manifest["versions"])
    assert {"attribution_s", "faithfulness_s", "total_s"} <= set(manifest["timings"])
    metrics = manifest["metrics"]
    assert metrics["selection"] == "greedy, 40 edges" and metrics["n_edges"] == 40
    assert metrics["baseline_gap"]["clean"] == metrics["clean"]
    assert metrics["normalized"] == pytest.approx(
        (metrics["circuit"] - metrics["corrupted"]) / (metrics["clean"] - metrics["corrupted"])
    )

    graph = CircuitGraph.load_json(out / "graph.json")
    tensors = load_file(out / "scores.safetensors")
    assert graph.n_edges_in_graph == metrics["n_edges"] > 0
    assert torch.equal(graph.scores, tensors["scores"].float())
    assert torch.equal(graph.in_graph, tensors["in_graph"].bool())
    assert (graph.scores[graph.layout.real_edges] != 0).any()

    record = json.loads((out / "examples.jsonl").read_text().splitlines()[0])
    assert {"clean_ids", "corrupted_ids", "correct_idx", "incorrect_idx"} <= set(record)
    examples, expected = (
        read_jsonl(out / "examples.jsonl"),
        load_pairs("ioi", pythia_tokenizer(), 32),
    )
    for field in ("clean", "corrupted", "correct", "incorrect", "attention_mask"):
        assert torch.equal(getattr(examples, field), getattr(expected, field)), field
    assert (out / "circuit.svg").read_text().lstrip().startswith(("<svg", "<?xml"))
    assert "digraph" in (out / "circuit.dot").read_text()
    summary = capsys.readouterr().out
    assert "baselines" in summary and "faithfulness: normalized" in summary and str(out) in summary


def test_default_run_folder_and_greedy_n(offline_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["eap", *MODEL_ARGS, "--n", "4", "--method", "eap", "--greedy", "12"]
    assert main(args) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("eap-pythia-160m-ioi-step143000-")
    metrics = json.loads((run / "manifest.json").read_text())["metrics"]
    assert 0 < metrics["n_edges"] <= 12 and metrics["selection"] == "greedy, 12 edges"


def test_search_is_skipped_when_baselines_are_inverted(offline_env, tmp_path, capsys):
    # The tiny random model scores the corrupted IOI prompts above the clean ones.
    out = tmp_path / "run"
    assert main(["eap", *MODEL_ARGS, "--n", "8", "--method", "eap", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    gap = manifest["metrics"]["baseline_gap"]
    assert manifest["status"] == "done" and manifest["metrics"]["selection"] == "skipped"
    assert gap["gap"] < 0 and not gap["reliable"] and "inverted" in gap["problem"]
    assert not manifest["metrics"]["faithfulness_reliable"]
    assert "warning: normalized faithfulness is unreliable" in capsys.readouterr().out


def test_clean_corrupted_run_records_no_ig_steps(offline_env, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["eap", *MODEL_ARGS, "--n", "4", "--method", "clean-corrupted", "--ig-steps", "3"]
    assert main([*args, "--greedy", "12", "--out", str(out)]) == 0
    metrics = json.loads((out / "manifest.json").read_text())["metrics"]
    assert metrics["method"] == "clean-corrupted" and metrics["ig_steps"] is None
    summary = capsys.readouterr().out
    assert "clean-corrupted on pythia-160m" in summary and "(m=" not in summary


def _mismatched_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "clean,corrupted,correct_idx,incorrect_idx\n"
        "When Mary and John went,When Alexandra Smithson and John went,5,6\n"
    )
    return str(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "no-such-task"], "unknown task 'no-such-task'"),
        (["--method", "eapx"], "method must be one of eap-ig-inputs"),
        (["--ig-steps", "0"], "argument --ig-steps: expected a positive integer, got 0"),
        (["--task", "CSV", "--n", "1"], "a pair must have equal lengths"),
    ],
)
def test_usage_errors_exit_2_with_one_line(offline_env, tmp_path, capsys, extra, message):
    extra = [_mismatched_csv(tmp_path) if arg == "CSV" else arg for arg in extra]
    assert main(["eap", *MODEL_ARGS, "--out", str(tmp_path / "run"), *extra]) == 2
    # (transformers' own load progress may precede it on stderr)
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:] and message in errors[0]
