"""The L3D examples run in quick mode and print numbers that agree with the ground truth."""

from __future__ import annotations

import re

import pytest

from tests.examples.runner import number, run_example


def _number(text: str, label: str) -> float:
    return number(text, rf"{label}:? ([-\d.e]+)")


@pytest.mark.slow
def test_toy_example_finds_one_subnetwork_per_learned_feature():
    out = run_example("l3d_toys.py", "--toy", "tms", "--quick")
    assert _number(out, "held-out reconstruction loss") < 0.4
    assert _number(out, "dead subnetworks") == 0
    best = [
        float(c)
        for c in re.search(r"tms_best_cos_per_subnetwork: \[(.*)\]", out).group(1).split(",")
    ]
    assert sum(c > 0.95 for c in best) >= 4  # the quick toy learns 4 of its 5 features


@pytest.mark.slow
def test_transformer_example_decomposes_every_position(tmp_path):
    out = run_example("l3d_transformer.py", "--quick", "--out", str(tmp_path / "run"))
    assert _number(out, "held-out samples") == 4 * 8  # 4 held-out texts x 8 positions
    assert 0 < _number(out, "held-out reconstruction loss") < 1.5
    assert out.count("⟦") >= 3  # a top sample per subnetwork, its position highlighted
    assert (tmp_path / "run" / "subnetworks.md").is_file()
