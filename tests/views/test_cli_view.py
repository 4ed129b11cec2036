"""``mechcirc view attention`` writes an offline page and a manifest beside it."""

from __future__ import annotations

import json

from mechcirc.cli import main


def test_view_attention_writes_a_page(offline_env, tmp_path, capsys):
    out = tmp_path / "page.html"
    argv = ["view", "attention", "--model", "pythia-160m", "--prompt", "Mary and John went"]
    code = main([*argv, "--prompt", "a b a b", "--layer", "1", "--head", "2", "--out", str(out)])
    assert code == 0
    html = out.read_text()
    assert html.count("var CircuitsVis=") == 1
    assert html.count("CircuitsVis.render(") == 2
    assert '"attentionHeadNames": ["L1H2"]' in html
    manifest = json.loads((tmp_path / "page-run" / "manifest.json").read_text())
    assert manifest["config"]["heads"] == ["a1.h2"] and manifest["status"] == "done"
    assert manifest["page"] == str(out.resolve())


def test_view_attention_usage_errors(offline_env, tmp_path, capsys):
    argv = ["view", "attention", "--model", "pythia-160m", "--prompt", "hi"]
    assert main([*argv, "--out", str(tmp_path / "page.txt")]) == 2
    assert "--out must name an .html file" in capsys.readouterr().err
    assert main([*argv, "--layer", "9", "--out", str(tmp_path / "p.html")]) == 2
    assert "layer must be in" in capsys.readouterr().err
