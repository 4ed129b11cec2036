"""``mechcirc train``: runs, resumes, refuses bad values and clobbering before touching the
folder, records failures, reruns; presets agree with the experiments; the examples run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mechcirc.analyses.training import (
    GrokkingConfig,
    ToyTrainingConfig,
    TrainConfig,
    Trainer,
    run_grokking,
)
from mechcirc.cli import main
from mechcirc.tasks import SPARSE_MODULAR_ADDITION
from mechcirc.toys import CrossAttentionConfig, HookedCrossAttention
from tests.examples.runner import run_example

ROOT = Path(__file__).resolve().parents[3]
BASE = ["train", "grokking", "--p", "7", "--eval-every", "5", "--no-progress"]


@pytest.mark.slow
def test_train_grokking_then_resume(tmp_path):
    out = tmp_path / "grok"
    assert main([*BASE, "--steps", "10", "--out", str(out)]) == 0
    assert main([*BASE, "--steps", "15", "--resume", "--out", str(out)]) == 0
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics["step"].tolist() == [0, 5, 10, 15]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["metrics"]["step"] == 15
    assert manifest["config"]["train"]["steps"] == 15 and manifest["config"]["p"] == 7
    files = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert files == set(manifest["outputs"]) >= {"checkpoint.safetensors", "accuracy.png"}


def test_rerun_of_a_train_run_reproduces_it(tmp_path):
    out = tmp_path / "grok"
    assert main([*BASE, "--steps", "10", "--out", str(out)]) == 0
    assert main(["rerun", str(out), "--out", str(tmp_path / "again")]) == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "metrics.parquet"),
        pd.read_parquet(tmp_path / "again" / "metrics.parquet"),
    )


def test_train_cross_attention(tmp_path):
    out = tmp_path / "xattn"
    argv = ["train", "cross-attention", "--steps", "6", "--n-train", "32", "--eval-every", "3"]
    assert main([*argv, "--no-progress", "--out", str(out)]) == 0
    assert pd.read_parquet(out / "metrics.parquet")["step"].tolist() == [0, 3, 6]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["train"]["optimizer"] == "adam"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "0"], "lr must be in (0, inf], got 0.0"),  # was silently the default
        (["--lr", "-0.1"], "lr must be in (0, inf]"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--weight-decay", "inf"], "weight_decay must be a finite number"),
        (["--p", "8"], "prime"),
        (["--seq-len", "8"], "--seq-len applies to cross-attention"),
        (["--steps", "0"], "expected a positive integer"),
    ],
)
def test_train_usage_errors_exit_2_with_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "x"
    assert main(["train", "grokking", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_refused_runs_leave_the_folder_untouched(tmp_path, capsys):
    out = tmp_path / "grok"
    assert main(["train", "grokking", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err
    assert main([*BASE, "--steps", "5", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main([*BASE, "--steps", "5", "--out", str(out)]) == 2  # not empty, no flag
    assert "--resume" in capsys.readouterr().err
    assert (
        main([*BASE, "--steps", "9", "--train-fraction", "0.5", "--resume", "--out", str(out)]) == 2
    )
    assert "resume with the same data" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_failure_mid_run_is_recorded(tmp_path, monkeypatch):
    from mechcirc import training as trainer

    def broken(self, *args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(trainer.Trainer, "fit", broken)
    out = tmp_path / "grok"
    assert main([*BASE, "--steps", "5", "--out", str(out)]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "RuntimeError", "message": "injected failure"}


def test_train_presets_are_the_experiments_settings():
    grokking, paper = ToyTrainingConfig.preset("grokking"), GrokkingConfig()
    assert (grokking.p, grokking.train_fraction) == (paper.p, paper.train_fraction) == (113, 0.3)
    assert grokking.train == paper.train_config()
    assert grokking.train.betas == (0.9, 0.98) and grokking.train.weight_decay == 1.0
    cross = ToyTrainingConfig.preset("cross-attention")
    assert (cross.p, cross.train.optimizer, cross.train.lr, cross.train.weight_decay) == (
        4,
        "adam",
        1e-3,
        0.0,
    )
    assert ToyTrainingConfig.from_dict(cross.to_dict()) == cross


def printed_values(script: str) -> dict[str, str]:
    """Run ``examples/<script> --quick``; its ``name: value`` lines."""
    out = run_example(script, "--quick")
    lines = [line.rsplit(" ", 1) for line in out.splitlines() if ":" in line]
    return {name.rstrip(":"): value for name, value in lines}


@pytest.mark.slow
def test_grokking_example_prints_the_pipelines_numbers():
    printed = printed_values("training_grokking.py")
    expected = run_grokking(GrokkingConfig.preset("quick")).summary
    assert int(printed["train pairs"]) == expected["n_train"]
    assert float(printed["final test accuracy"]) == pytest.approx(
        expected["final_test_acc"], abs=1e-4
    )
    assert float(printed["final C_gen"]) == pytest.approx(expected["final_c_gen"], abs=1e-4)
    assert float(printed["final C_mem"]) == pytest.approx(expected["final_c_mem"], abs=1e-4)
    assert int(printed["ungrokking subset"]) == expected["n_train"] // 5


@pytest.mark.slow
def test_curriculum_example_prints_measures_that_recompute():
    printed = printed_values("training_curriculum.py")
    p2 = SPARSE_MODULAR_ADDITION.build(
        p=2, seq_len=12, k=5, n_train=64, n_test=64, seed=1, d_vocab=4
    )
    first = p2.test_inputs[:, :5]
    has_zero = (first == 0).any(1)
    zeros = (first == 0).float().mean(1)[has_zero].mean()
    assert float(printed["after p=2: zero token share"]) == pytest.approx(float(zeros), abs=1e-4)
    p4 = SPARSE_MODULAR_ADDITION.build(p=4, seq_len=12, k=5, n_train=64, n_test=64, seed=0)
    model = HookedCrossAttention(CrossAttentionConfig(d_vocab=4, n_ctx=12, d_model=32, seed=0))
    train = TrainConfig(steps=50, optimizer="adam", lr=1e-3, eval_every=100, progress=False)
    accuracy = Trainer(model, p4, train).fit()["test_acc"].iloc[-1]
    assert float(printed["scratch: p=4 test accuracy"]) == pytest.approx(accuracy, abs=1e-4)
    for name in ("scratch", "curriculum"):
        assert 0 < float(printed[f"{name}: attention on the first k"]) < 1
