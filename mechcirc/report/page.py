"""One self-contained HTML document: the page's markup, its data as JSON, plotly.js (and, when a
page shows attention patterns, circuitsvis's bundle) inlined once, and the glue script.

Nothing on the page is fetched: scripts and styles are inline, fonts are the system's, and
the data sits in a ``<script type="application/json">`` element the glue script parses.

Example:
    >>> html = render_page("Run", "<h1>Run</h1>", {"kind": "run"})  # doctest: +SKIP
    >>> write_page("report.html", html)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mechcirc.errors import MechcircError
from mechcirc.views.html_page import circuitsvis_bundle, script_json

__all__ = [
    "circuit_view",
    "details",
    "finite_json",
    "html_table",
    "json_block",
    "plotly_bundle",
    "render_page",
    "write_page",
]


@cache
def _asset(name: str) -> str:
    return (resources.files("mechcirc.report") / "assets" / name).read_text(encoding="utf-8")


@cache
def plotly_bundle() -> str:
    """plotly.js as shipped in the plotly wheel, safe to inline in one ``<script>``."""
    path = Path(resources.files("plotly")) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise MechcircError(f"plotly's JavaScript bundle is missing at {path}; reinstall plotly")
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def html_table(columns: Sequence[str], rows: Sequence[Sequence[object]], css: str = "") -> str:
    """A static table; cells are escaped text (floats with 4 significant digits)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def details(summary: str, inner: str, element_id: str = "") -> str:
    """A collapsed section."""
    ident = f' id="{element_id}"' if element_id else ""
    return f"<details{ident}><summary>{html.escape(summary)}</summary>{inner}</details>"


def json_block(value: object) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, default=str))}</pre>"


def circuit_view(element_id: str) -> str:
    """Markup of a circuit drawing and its controls; the glue script draws into it."""
    return f"""<div class="circuit-view" id="{element_id}">
<div class="controls">
<label>edges shown <input type="range" class="k-range" min="1" max="1" value="1"></label>
<span class="k-value"></span>
<label>|score| &ge; <input type="number" class="threshold" step="any" min="0"></label>
<label><input type="checkbox" class="only-circuit" checked> circuit edges only</label>
<label><input type="checkbox" class="merge"> node view (merge q/k/v)</label>
</div>
<p class="caption"></p>
<div class="circuit-plot"></div>
<p class="key">Edge colour: what the destination reads for
<span style="color:#2b6cb0">&#9632; query</span> <span style="color:#2f855a">&#9632; key</span>
<span style="color:#c05621">&#9632; value</span> <span style="color:#6b46c1">&#9632; MLP</span>
<span style="color:#4a5568">&#9632; logits</span> <span style="color:#b7791f">&#9632; merged</span>;
solid positive, dashed negative; width grows with |score|. Hover a node to highlight its
edges; rows without drawn nodes are hidden.</p>
</div>"""


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def render_page(title: str, body: str, data: dict, *, attention: bool = False) -> str:
    """The complete document: ``body`` markup, ``data`` as JSON, the bundles and glue."""
    circuitsvis = f"<script>\n{circuitsvis_bundle()}\n</script>\n" if attention else ""
    payload = script_json(finite_json(data))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_asset('report.css')}</style>\n"
        f"</head>\n<body>\n{body}\n"
        f'<script type="application/json" id="report-data">{payload}</script>\n'
        f"<script>\n{plotly_bundle()}\n</script>\n{circuitsvis}"
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )


def write_page(path: str | Path, document: str) -> Path:
    """Write ``document`` to ``path`` atomically (creating its folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(document, encoding="utf-8")
    os.replace(partial, path)
    return path
