"""examples/micro_pythia.py runs offline and prints the micro-Pythia's known answers."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "micro_pythia.py"


def _number(block: str, pattern: str) -> float:
    match = re.search(pattern, block)
    assert match, (pattern, block)
    return float(match.group(1))


@pytest.mark.slow
def test_example_prints_chance_at_step0_and_the_circuit_at_the_end():
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    blocks = out.stdout.split("== micro-pythia@")[1:]
    assert [block.split()[0] for block in blocks] == ["step0", "step2800"]
    start, end = blocks
    assert abs(_number(start, r"ioi: logit_diff ([-0-9.]+)")) < 0.1
    assert _number(start, r"induction head: a\d\.h\d ([-0-9.]+)") < 0.2
    assert abs(_number(start, r"ioi clean - corrupted ([-0-9.]+);")) < 0.05
    assert _number(end, r"ioi: logit_diff ([-0-9.]+)") >= 3
    assert _number(end, r"ioi: logit_diff \S+ accuracy ([-0-9.]+)") >= 0.95
    assert _number(end, r"greater-than: prob_diff ([-0-9.]+)") >= 0.5
    assert _number(end, r"induction head: a1\.h\d ([-0-9.]+)") >= 0.8
    assert _number(end, r"direct effect \(fraction of it\): a2\.h1 ([-0-9.]+)") >= 0.5
    edges = _number(end, r"circuit: (\d+) of 297 edges")
    assert edges <= 29 and _number(end, r"normalized faithfulness ([-0-9.]+),") >= 0.8
    assert "a2.h1" in end.split("ioi eap-ig circuit:")[1]
