"""Attention pages are self-contained (bundle inlined once, no external scripts); heatmaps."""

from __future__ import annotations

import re

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.views import (
    AttentionView,
    attention_page,
    attention_views,
    circuitsvis_bundle,
    save_heatmap,
    select_heads,
)

PATTERN = torch.tensor([[[1.0, 0.0], [0.25, 0.75]], [[1.0, 0.0], [0.5, 0.5]]])


def _view(title: str = "demo", tokens=("a", "b")) -> AttentionView:
    return AttentionView(title, list(tokens), PATTERN, ["L0H0", "L0H1"])


def test_page_inlines_the_bundle_once_and_renders_each_view():
    html = attention_page([_view("first"), _view("second"), _view("third")])
    assert html.count("var CircuitsVis=") == 1
    assert len(html) < len(circuitsvis_bundle()) + 20_000
    calls = re.findall(r'CircuitsVis\.render\("(view-\d+)", CircuitsVis\.AttentionHeads', html)
    assert calls == ["view-0", "view-1", "view-2"]
    for i in range(3):
        assert f'<div id="view-{i}"></div>' in html


def test_page_loads_no_external_script():
    html = attention_page([_view()])
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"""\bimport\b[^;]*?\bfrom\s*["']https?:""", html)
    assert "unpkg.com" not in html and "cdn.jsdelivr" not in html
    # Two script elements (the bundle, the render calls): only their end tags survive escaping.
    assert len(re.findall(r"</script", html, re.IGNORECASE)) == 2


def test_tokens_cannot_break_out_of_the_script():
    html = attention_page([_view("<b>title</b>", tokens=("</script><script>alert(1)", "&"))])
    assert "</script><script>alert(1)" not in html
    assert "\\u003c/script\\u003e" in html
    assert "&lt;b&gt;title&lt;/b&gt;" in html


def test_view_shapes_are_validated():
    with pytest.raises(UsageError, match=r"\[head, q, k\] with q = k = 3 tokens"):
        AttentionView("x", ["a", "b", "c"], PATTERN, ["h0", "h1"])
    with pytest.raises(UsageError, match="one head name per pattern"):
        AttentionView("x", ["a", "b"], PATTERN, ["h0"])
    with pytest.raises(UsageError, match="at least one view"):
        attention_page([])


def test_attention_views_of_a_model_hold_its_patterns(tiny):
    model = tiny("gpt2")
    views = attention_views(model, ["Hello there friend"], layer=1)
    tokens = model.to_tokens("Hello there friend")
    _, cache = model.run_with_cache(
        tokens, names_filter=lambda n: n == "blocks.1.attn.hook_pattern"
    )
    (view,) = views
    assert view.head_names == ["L1H0", "L1H1", "L1H2", "L1H3"]
    assert len(view.tokens) == tokens.shape[1]
    assert torch.allclose(view.patterns, cache["blocks.1.attn.hook_pattern"][0])
    assert select_heads(model, None, 2) == [(0, 2), (1, 2)]
    with pytest.raises(UsageError, match=r"layer must be in 0\.\.1, got 5"):
        select_heads(model, 5)


def test_heatmaps_are_written_as_png_and_svg(tmp_path):
    values = torch.tensor([[0.1, float("nan")], [-0.5, 0.9]])
    paths = save_heatmap(values, tmp_path / "sub" / "scores", title="scores")
    assert [p.name for p in paths] == ["scores.png", "scores.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()
    with pytest.raises(UsageError, match=r"\[n_layers, n_heads\]"):
        save_heatmap(torch.zeros(3), tmp_path / "bad", title="bad")
    with pytest.raises(UsageError, match="formats"):
        save_heatmap(values, tmp_path / "bad", title="bad", formats=["jpg"])
