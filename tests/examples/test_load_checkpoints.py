"""examples/load_checkpoints.py runs offline and shows each checkpoint's own commit."""

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "load_checkpoints.py"


def test_example_runs_offline():
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--offline"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "commit" in line]
    assert [line.split()[0] for line in lines] == ["step0", "step1000", "step143000"]
    assert len({line.split()[2] for line in lines}) == 3  # three different commits
