"""examples/sweep_over_checkpoints.py --quick sweeps two tiny models and prints the tables'
numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep_over_checkpoints.py"


@pytest.mark.slow
def test_sweep_example_quick(tmp_path):
    out = tmp_path / "sweep"
    argv = [sys.executable, str(EXAMPLE), "--quick", "--home", str(tmp_path / "hub")]
    done = subprocess.run([*argv, "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "plan: 8 units (pythia-70m, pythia-160m; 2 tasks)" in lines
    assert "units: 8 done, 0 failed, 0 pending, 0 running" in lines
    behaviour = pd.read_parquet(out / "behaviour.parquet")
    printed = [line for line in lines if line.startswith("accuracy ")]
    assert len(printed) == len(behaviour) == 16
    for row in behaviour.itertuples(index=False):
        line = f"accuracy {row.model} {row.task} step {row.step} ({row.tokens:.2e} tokens): "
        assert f"{line}{row.accuracy:.3f}" in printed
    evolution = pd.read_parquet(out / "evolution.parquet")
    circuits = pd.read_parquet(out / "circuits.parquet").set_index(["model", "task", "step"])
    for row in evolution.groupby(["model", "task"]).tail(1).itertuples(index=False):
        found = circuits.loc[(row.model, row.task, row.step), "n_edges"] > 0
        assert row.weighted_jaccard_final == (1.0 if found else 0.0)  # the final vs itself
    assert sum(line.startswith("weighted Jaccard") for line in lines) == 4
    assert lines[-1] == f"figures: {out}/figures (14 files)"
