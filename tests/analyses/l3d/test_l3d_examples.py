"""The L3D examples run in quick mode (so they never rot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize(
    ("script", "extra", "expected"),
    [
        ("l3d_toys.py", ["--toy", "circuit-superposition"], "A_r2"),
        ("l3d_transformer.py", [], "interventions.svg"),
    ],
)
def test_example_runs_quick(script, extra, expected, tmp_path):
    argv = [sys.executable, str(EXAMPLES / script), "--quick", *extra]
    if script == "l3d_transformer.py":
        argv += ["--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
