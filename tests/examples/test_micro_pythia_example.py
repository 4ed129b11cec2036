"""examples/micro_pythia.py runs offline and prints the micro-Pythia's known answers."""

import pytest

from tests.examples.runner import number as _number
from tests.examples.runner import run_example


@pytest.mark.slow
def test_example_prints_chance_at_step0_and_the_circuit_at_the_end():
    blocks = run_example("micro_pythia.py").split("== micro-pythia@")[1:]
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
