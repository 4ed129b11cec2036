"""A real headless Chromium (Debian's, driven by playwright) with the network blocked.

Every request that is not a ``file:`` URL is aborted and recorded; console errors and page
errors are recorded. Without chromium or playwright the browser tests skip on a bare local
run, and fail loudly when ``CI`` or ``MECHCIRC_REQUIRE_BROWSER`` is set (CI installs both).

Example:
    >>> with browser_page(path, tmp_path) as session:  # doctest: +SKIP
    ...     session.page.screenshot(path=tmp_path / "page.png")
    >>> session.blocked, session.errors  # doctest: +SKIP
    ([], [])
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = (
    os.environ.get("MECHCIRC_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)


def require_browser() -> str:
    """Chromium's path, after checking that playwright imports; skip or fail otherwise."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None:
        problem = "chromium is not installed (apt-get install chromium; .ci/run does)"
    if problem is None:
        return CHROMIUM
    if os.environ.get("CI") or os.environ.get("MECHCIRC_REQUIRE_BROWSER"):
        pytest.fail(f"browser tests must run here (CI / MECHCIRC_REQUIRE_BROWSER set): {problem}")
    pytest.skip(problem)


@dataclass
class BrowserSession:
    page: object
    blocked: list[str] = field(default_factory=list)  # non-file requests (all aborted)
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions


@contextmanager
def browser_page(path: Path, width: int = 1400, height: int = 1000) -> Iterator[BrowserSession]:
    """Open ``path`` in headless Chromium, offline, and wait until the report's glue ran."""
    from playwright.sync_api import sync_playwright

    executable = require_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            session = BrowserSession(page)

            def route(handle):
                url = handle.request.url
                if url.startswith("file:"):
                    handle.continue_()
                else:
                    session.blocked.append(url)
                    handle.abort()

            page.route("**/*", route)
            page.on("request", lambda request: session.requests.append(request.url))
            page.on(
                "console",
                lambda msg: (
                    session.errors.append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: session.errors.append(f"page error: {error}"))
            page.goto(path.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            yield session
        finally:
            browser.close()


def plot_data(page, selector: str) -> list[dict]:
    """The traces plotly drew into the element ``selector``."""
    return page.eval_on_selector(selector, "el => el.data.map(t => JSON.parse(JSON.stringify(t)))")


def point_position(page, selector: str, trace: int, index: int) -> tuple[float, float]:
    """Page pixel position of point ``index`` of trace ``trace`` in a plotly chart."""
    return tuple(
        page.eval_on_selector(
            selector,
            """(el, [t, i]) => {
                const full = el._fullLayout, box = el.getBoundingClientRect();
                const trace = el._fullData[t];
                const xa = full[trace.xaxis.replace('x', 'xaxis')];
                const ya = full[trace.yaxis.replace('y', 'yaxis')];
                const x = trace.x[i], y = trace.y[i];
                return [box.left + xa._offset + xa.l2p(xa.d2l(x)),
                        box.top + ya._offset + ya.l2p(ya.d2l(y))];
            }""",
            [trace, index],
        )
    )
