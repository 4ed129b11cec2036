"""The head-score, path-patching and attention-view examples run in quick mode."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run(monkeypatch, name: str, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [name, "--quick", *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_heads_scores_example(monkeypatch, tmp_path, capsys):
    _run(monkeypatch, "heads_scores.py", "--out", str(tmp_path))
    assert "induction" in capsys.readouterr().out
    assert (tmp_path / "head_scores.csv").is_file() and (tmp_path / "copy.svg").is_file()


def test_heads_path_patching_example(monkeypatch, capsys):
    _run(monkeypatch, "heads_path_patching.py")
    out = capsys.readouterr().out
    assert "name movers:" in out and "normalized_effect" in out


@pytest.mark.parametrize("layer", [None, "1"])
def test_heads_attention_view_example(monkeypatch, tmp_path, capsys, layer):
    extra = ["--layer", layer] if layer else []
    _run(monkeypatch, "heads_attention_view.py", "--out", str(tmp_path / "a.html"), *extra)
    assert (tmp_path / "a.html").read_text().count("CircuitsVis.render(") == 2
