"""examples/load_checkpoints.py runs offline, shows each checkpoint's own commit, and its
switched model equals a fresh load."""

import pytest

from tests.examples.runner import run_example


@pytest.mark.slow
def test_example_runs_offline():
    out = run_example("load_checkpoints.py", "--offline")
    lines = [line for line in out.splitlines() if "commit" in line]
    assert [line.split()[0] for line in lines] == ["step0", "step1000", "step143000"]
    assert len({line.split()[2] for line in lines}) == 3  # three different commits
    gap = out.splitlines()[-1]
    assert gap.startswith("switched vs freshly loaded step143000")
    assert float(gap.split()[-1]) == 0.0
