"""`mechcirc l3d`: files written, resuming (and refusing before touching the folder), a
TransformerLens model's texts per token, failures recorded, `mechcirc rerun`, usage errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mechcirc.analyses.l3d import TokenData, load_subnetworks
from mechcirc.cli import main
from mechcirc.errors import UsageError

QUICK = ["--toy-steps", "200", "--steps", "20", "--batch-size", "128", "--n-eval", "128",
         "--n-references", "1", "--set", "checkpoint_every=10",
         "--set", "log_every=10"]  # fmt: skip


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_toy_run_writes_every_output_and_resumes(tmp_path, capsys):
    out = tmp_path / "tms"
    args = ["l3d", "--toy", "squares", *QUICK, "--out", str(out)]
    assert main(args) == 0
    assert "held-out reconstruction loss" in capsys.readouterr().out
    manifest = _manifest(out)
    assert manifest["status"] == "done" and manifest["seed"] == 0
    assert manifest["config"]["n_subnetworks"] == 5 and manifest["config"]["rank"] == 2
    assert manifest["inputs"]["toy"]["training"]["steps"] == 200
    written = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert written == set(manifest["outputs"])  # every file is listed
    for name in ("subnetworks.safetensors", "checkpoint.safetensors", "toy_model.safetensors",
                 "interventions.svg", "subnetworks.png", "interventions_hidden_only.png",
                 "interventions_two_subnetworks.png"):  # fmt: skip
        assert name in written, name
    subnets = load_subnetworks(out / "subnetworks.safetensors")  # the factors, not dense maps
    assert subnets.ranks["layers.1.weight"] == [2, 2]
    assert manifest["model"]["toy"] == "squares" and manifest["model"]["parameters"] == 150
    assert len(json.loads((out / "top_samples.json").read_text())) == 5
    toy_weights = (out / "toy_model.safetensors").read_bytes()

    # Same folder again: refused without --resume; with it, training continues from step 20.
    before = _snapshot(out)
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume", "--seed", "1"]) == 2  # other inputs: refused, untouched
    assert "cannot resume" in capsys.readouterr().err
    assert main([*args, "--resume", "--rank", "1"]) == 2  # other settings: refused, untouched
    assert "rank: checkpoint 2 vs now 1" in capsys.readouterr().err
    assert _snapshot(out) == before
    longer = [a if a != "20" else "40" for a in args]
    assert main([*longer, "--resume"]) == 0
    log = pd.read_parquet(out / "metrics.parquet")
    assert log["step"].tolist() == [10, 20, 30, 40]
    assert (out / "toy_model.safetensors").read_bytes() == toy_weights  # loaded, not retrained


@pytest.mark.slow
def test_rerun_reproduces_a_toy_run(tmp_path):
    out = tmp_path / "first"
    assert main(["l3d", "--toy", "tms", *QUICK, "--out", str(out)]) == 0
    again = tmp_path / "again"
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    first, second = _manifest(out)["metrics"], _manifest(again)["metrics"]
    assert second["reconstruction_loss"] == first["reconstruction_loss"]
    assert second["activation_frequency"] == first["activation_frequency"]


@pytest.mark.slow
def test_a_failure_mid_run_is_recorded(tmp_path, monkeypatch, capsys):
    import mechcirc.analyses.l3d as l3d

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure in the fit")

    monkeypatch.setattr(l3d, "decompose", broken)
    out = tmp_path / "broken"
    assert main(["l3d", "--toy", "tms", *QUICK, "--out", str(out)]) == 1
    manifest = _manifest(out)
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "RuntimeError", "message": "injected failure in the fit"}


@pytest.mark.slow
def test_language_model_texts_per_token(tmp_path, offline_env):
    text = tmp_path / "story.txt"
    text.write_text("Once upon a time a little fox found a red ball in the tall grass. " * 40)
    out = tmp_path / "lm"
    args = ["l3d", "--model", "pythia-160m", "--revision", "step143000", "--device", "cpu",
            "--params", "blocks.0.attn.*", "--text", str(text), "--n-texts", "12",
            "--n-eval-texts", "3", "--seq-len", "6", "--n-subnetworks", "3", "--steps", "3",
            "--batch-size", "4", "--n-references", "1", "--n-top", "2", "--deltas", "0.01",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    manifest = _manifest(out)
    assert manifest["inputs"]["data"]["positions"] == "all"
    assert manifest["metrics"]["n_eval_samples"] == 3 * 6  # every position of each text
    assert manifest["metrics"]["parameters"][0] == "blocks.0.attn.q.weight"
    top = json.loads((out / "top_samples.json").read_text())
    first = top["0"][0]
    assert isinstance(first["context"], str) and len(first["top_logits"]) == 5
    assert "⟦" in (out / "subnetworks.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["l3d"], "give --toy NAME or --model NAME"),
        (["l3d", "--toy", "nope"], "unknown toy 'nope'"),
        (["l3d", "--toy", "tms", "--topk", "1.5"], "topk must be in (0, 1]"),
        (["l3d", "--toy", "tms", "--model", "gpt2"], "one of them"),
        (["l3d", "--model", "pythia-160m"], "--model needs --params"),
        (["l3d", "--toy", "tms", "--set", "nope=1"], "expected KEY=JSON"),
        (["l3d", "--toy", "tms", "--toy-weights", "missing.safetensors"], "toy weights not found"),
    ],
)
def test_usage_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written, not even an empty run folder


def test_resume_without_checkpoint(tmp_path, capsys):
    assert main(["l3d", "--toy", "tms", "--resume", "--out", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_token_sources(tiny, tmp_path):
    model = tiny("gpt-neox")
    tokens, read = TokenData(source="task", task="ioi", n_texts=3, n_eval=1, positions="last").load(
        model
    )
    assert tokens.shape[0] == 4 and (read < tokens.shape[1]).all()
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat. " * 20)
    tokens, read = TokenData(source="text", path=str(text), n_texts=4, n_eval=1, seq_len=6).load(
        model
    )
    assert tokens.shape == (5, 6) and read.tolist() == [5] * 5
    with pytest.raises(UsageError, match="fewer than the 5 texts"):
        TokenData(source="text", path=str(text), n_texts=4, n_eval=1, seq_len=1000).load(model)
    with pytest.raises(UsageError, match="text file not found"):
        TokenData(source="text", path=str(tmp_path / "missing.txt")).load(model)
    with pytest.raises(UsageError, match="positions 'last'"):
        TokenData(source="task", task="ioi")
