"""``mechcirc train``: runs, resumes, refuses to clobber; the training examples run (quick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mechcirc.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_train_grokking_then_resume(tmp_path):
    out = tmp_path / "grok"
    base = [
        "train",
        "grokking",
        "--p",
        "7",
        "--eval-every",
        "5",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main([*base, "--steps", "10"]) == 0
    assert main([*base, "--steps", "15", "--resume"]) == 0
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics["step"].tolist() == [0, 5, 10, 15]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["metrics"]["step"] == 15
    assert {"checkpoint.safetensors", "accuracy.png", "accuracy.svg"} <= set(manifest["outputs"])


def test_train_cross_attention(tmp_path):
    out = tmp_path / "xattn"
    argv = [
        "train",
        "cross-attention",
        "--steps",
        "6",
        "--n-train",
        "32",
        "--eval-every",
        "3",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert pd.read_parquet(out / "metrics.parquet")["step"].tolist() == [0, 3, 6]


def test_train_usage_errors(tmp_path, capsys):
    out = str(tmp_path / "none")
    assert main(["train", "grokking", "--out", out, "--resume"]) == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err
    argv = ["train", "grokking", "--p", "7", "--steps", "1", "--no-progress", "--out", out]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "grokking", "--p", "8", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("script", ["training_curriculum.py", "training_grokking.py"])
def test_training_examples_run_quick(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test accuracy" in result.stdout
