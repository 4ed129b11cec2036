"""examples/faithfulness_curve.py runs in quick mode and prints a consistent curve."""

from __future__ import annotations

import re

import pytest

from tests.examples.runner import example_main


@pytest.mark.slow
def test_faithfulness_curve_example_quick(capsys):
    example_main("faithfulness_curve.py")(["--quick"])
    out = capsys.readouterr().out
    assert re.search(r"memory lower bound of `mechcirc eap`: \d+\.\d GiB", out)
    clean, corrupted = map(float, re.search(r"clean (\S+), corrupted (\S+)", out).groups())
    rows = [
        [float(x) for x in line.split()]
        for line in out.splitlines()
        if re.fullmatch(r"\s*\d+\s+\d+\s+\S+\s+\S+\s+\S+", line)
    ]
    sizes = [int(row[0]) for row in rows]
    assert sizes[0] == 0 and sizes == sorted(sizes) and len(rows) >= 4
    assert rows[0][1] == 0 and rows[0][2] == corrupted  # the empty circuit: the corrupted run
    assert rows[-1][2] == clean and rows[-1][3] == 1.0  # the full circuit: the clean run
    gap, rounding = clean - corrupted, 1e-9  # values printed with 9 decimals
    for size, edges, circuit, normalized, fraction in rows:
        assert edges <= size
        assert fraction == pytest.approx(circuit / clean, abs=1e-4)
        expected = (circuit - corrupted) / gap
        error = 2 * rounding * (1 + abs(expected)) / abs(gap)
        assert normalized == pytest.approx(expected, abs=1e-4 + error)
    searches = re.findall(
        r"smallest circuit \((\S+) >= 0\.8\): (\d+) edges, reached (\w+), (\S+)", out
    )
    assert [s[0] for s in searches] == ["normalized", "fraction-of-clean"]
    for _, _, reached, score in searches:
        assert (float(score) >= 0.8) == (reached == "True")
