"""A real headless Chromium renders the offline attention page (skipped without chromium)."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser

import pytest
import torch

from mechcirc.views import AttentionView, write_attention_page
from tests.report.browser import require_browser


class ViewContents(HTMLParser):
    """Collects the tags and text rendered inside each ``<div id="view-N">``."""

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, dict] = {}
        self._current: str | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if self._current is None:
            view_id = dict(attrs).get("id") or ""
            if tag == "div" and view_id.startswith("view-"):
                self._current, self._depth = view_id, 1
                self.views[view_id] = {"tags": [], "text": []}
            return
        self.views[self._current]["tags"].append(tag)
        if tag not in ("br", "img", "input", "meta", "link", "hr"):
            self._depth += 1

    def handle_endtag(self, tag):
        if self._current is not None:
            self._depth -= 1
            if self._depth == 0:
                self._current = None

    def handle_data(self, data):
        if self._current is not None and data.strip():
            self.views[self._current]["text"].append(data.strip())


@pytest.mark.slow
def test_headless_chromium_renders_every_view(tmp_path):
    chromium = require_browser()
    pattern = torch.tensor([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]]).repeat(2, 1, 1)
    views = [
        AttentionView("first prompt", ["The", " cat", " sat"], pattern, ["L0H0", "L0H1"]),
        AttentionView("second prompt", ["A", " dog", " ran"], pattern[:1], ["L1H3"]),
    ]
    page = write_attention_page(tmp_path / "attention.html", views)
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",  # let React finish rendering before the dump
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    parser = ViewContents()
    parser.feed(dom)
    assert set(parser.views) == {"view-0", "view-1"}
    for view_id, names in (("view-0", ["L0H0", "L0H1"]), ("view-1", ["L1H3"])):
        rendered = parser.views[view_id]
        # Empty in the file; filled by circuitsvis's AttentionHeads in the browser.
        assert "canvas" in rendered["tags"], f"{view_id} was not rendered"
        assert any("Head Selector" in text for text in rendered["text"])
        for name in names:
            assert name in rendered["text"]
