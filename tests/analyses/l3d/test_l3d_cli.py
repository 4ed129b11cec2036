"""`mechcirc l3d`: files written, resuming, a TransformerLens model by pattern, and usage errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from safetensors.torch import load_file

from mechcirc.cli import main

QUICK = [
    "--steps",
    "20",
    "--batch-size",
    "128",
    "--n-eval",
    "256",
    "--n-references",
    "1",
    "--checkpoint-every",
    "10",
]


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_toy_run_writes_every_output_and_resumes(tmp_path, capsys):
    out = tmp_path / "tms"
    args = ["l3d", "--toy", "tms", "--toy-steps", "300", *QUICK, "--out", str(out)]
    assert main(args) == 0
    assert "reconstruction loss" in capsys.readouterr().out
    manifest = _manifest(out)
    assert manifest["status"] == "done" and manifest["seed"] == 0
    assert manifest["config"]["n_subnetworks"] == 5  # the toy's paper settings
    assert manifest["model"]["toy"] == "tms"
    for name in (
        "subnetworks.safetensors",
        "metrics.parquet",
        "top_samples.json",
        "interventions.png",
        "interventions.svg",
        "interventions.parquet",
        "checkpoint.safetensors",
        "toy_model.safetensors",
        "impact.safetensors",
    ):
        assert (out / name).is_file(), name
        assert name in manifest["outputs"]
    tensors = load_file(out / "subnetworks.safetensors")
    assert tensors["v_out/W"].shape == (5, 2, 5) and tensors["v_in/b"].shape == (5, 5)
    assert len(json.loads((out / "top_samples.json").read_text())) == 5
    assert (out / "interventions.svg").read_text().lstrip().startswith("<?xml")
    toy_weights = (out / "toy_model.safetensors").read_bytes()

    # Same folder again: refused without --resume; with it, training continues from step 20.
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    longer = [a if a != "20" else "40" for a in args]
    assert main([*longer, "--resume"]) == 0
    log = pd.read_parquet(out / "metrics.parquet")
    assert log["step"].tolist() == [20, 40]
    assert (out / "toy_model.safetensors").read_bytes() == toy_weights  # loaded, not retrained


def test_transformer_attention_block_by_pattern(tmp_path, offline_env):
    out = tmp_path / "lm"
    args = [
        "l3d",
        "--model",
        "pythia-160m",
        "--revision",
        "step143000",
        "--device",
        "cpu",
        "--params",
        "blocks.0.attn.*",
        "--n-subnetworks",
        "3",
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--n-sequences",
        "16",
        "--seq-len",
        "5",
        "--n-eval",
        "16",
        "--n-references",
        "1",
        "--deltas",
        "0.01",
        "--top",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    manifest = _manifest(out)
    assert manifest["model"]["model_id"] == "EleutherAI/pythia-160m"
    assert manifest["metrics"]["parameters"][0] == "blocks.0.attn.q.weight"
    top = json.loads((out / "top_samples.json").read_text())
    assert len(top["0"]) == 2 and isinstance(top["0"][0]["text"], str)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["l3d"], "give --toy NAME or --model NAME"),
        (["l3d", "--toy", "nope"], "unknown toy 'nope'"),
        (["l3d", "--toy", "tms", "--topk", "1.5"], "fraction"),
        (["l3d", "--toy", "tms", "--model", "gpt2"], "one of them"),
        (["l3d", "--model", "pythia-160m"], "--model needs --params"),
    ],
)
def test_usage_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written, not even an empty run folder


def test_resume_without_checkpoint(tmp_path, capsys):
    assert main(["l3d", "--toy", "tms", "--resume", "--out", str(tmp_path)]) == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err


def test_token_sources(tiny, tmp_path):
    from mechcirc.analyses.l3d.builders import task_tokens, text_tokens
    from mechcirc.errors import UsageError

    model = tiny("gpt-neox")
    tokens, read = task_tokens(model, "ioi", 4, seed=0)
    assert tokens.shape[0] == 4 and (read < tokens.shape[1]).all()
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat. " * 20)
    tokens, read = text_tokens(model, text, n=5, seq_len=6)
    assert tokens.shape == (5, 6) and read.tolist() == [5] * 5
    with pytest.raises(UsageError, match="need at least 2 windows"):
        text_tokens(model, text, n=5, seq_len=1000)
    with pytest.raises(UsageError, match="text file not found"):
        text_tokens(model, tmp_path / "missing.txt", n=5, seq_len=6)
