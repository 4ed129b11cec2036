"""The head-score, path-patching and attention-view examples run in quick mode."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.examples.runner import example_main as _main
from tests.examples.runner import run_example

pytestmark = pytest.mark.slow


def test_heads_scores_example(tmp_path, capsys):
    result = _main("heads_scores.py")(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    table = pd.read_parquet(tmp_path / "head_scores.parquet")
    for name, head, value in re.findall(r"(\w+)\s+top heads: (a\d+\.h\d+) ([-\d.]+)", out):
        layer, index = map(int, re.match(r"a(\d+)\.h(\d+)", head).groups())
        row = table[(table["layer"] == layer) & (table["head"] == index)].iloc[0]
        assert float(value) == pytest.approx(row[name], abs=1e-3)
        assert row[name] == pytest.approx(table[name].max(), abs=1e-6)  # the printed is the top
    assert set(result.scores) >= {"induction", "context_copy", "successor"}
    assert (tmp_path / "heatmaps" / "context_copy.svg").is_file()


def test_heads_path_patching_example(capsys):
    result = _main("heads_path_patching.py")(["--quick"])
    out = capsys.readouterr().out
    assert "name movers:" in out
    clean = float(re.search(r"logit diff clean (\S+),", out).group(1))
    assert clean == pytest.approx(result.clean_metric, abs=1e-3)
    strongest = result.to_frame().sort_values("effect").iloc[0]
    assert strongest.sender in out


@pytest.mark.parametrize("layer", [None, "1"])
def test_heads_attention_view_example(tmp_path, layer):
    extra = ["--layer", layer] if layer else []
    run_example("heads_attention_view.py", "--quick", "--out", str(tmp_path / "a.html"), *extra)
    assert (tmp_path / "a.html").read_text().count("CircuitsVis.render(") == 2
