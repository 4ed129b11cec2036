"""examples/load_checkpoints.py runs offline, shows each checkpoint's own commit, and its
switched model equals a fresh load."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "load_checkpoints.py"


@pytest.mark.slow
def test_example_runs_offline():
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--offline"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "commit" in line]
    assert [line.split()[0] for line in lines] == ["step0", "step1000", "step143000"]
    assert len({line.split()[2] for line in lines}) == 3  # three different commits
    gap = out.stdout.splitlines()[-1]
    assert gap.startswith("switched vs freshly loaded step143000")
    assert float(gap.split()[-1]) == 0.0
