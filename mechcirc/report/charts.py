"""Plotly figure specs (plain dicts, drawn by the inlined plotly.js) for a report's charts.

Specs are JSON: ``{"data": [traces], "layout": {...}}``, exactly what ``Plotly.newPlot``
takes. Building them as dicts keeps the page free of plotly's Python template defaults; the
tests validate every spec with ``plotly.graph_objects.Figure``.

On a log axis points at x <= 0 (step 0, no tokens yet) cannot be drawn; they are left out and
the chart says so.

Example:
    >>> spec = line_figure("Circuit size", [Series("pythia-70m", [2e6, 4e6], [120, 80])],
    ...                    y_title="edges")
    >>> spec["layout"]["xaxis"]["type"], spec["data"][0]["name"]
    ('log', 'pythia-70m')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mechcirc.report.circuit_data import round_significant

__all__ = ["PALETTE", "Series", "line_figure"]

# Tableau 10: distinguishable, colour-blind friendlier than plotly's default.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"  # installed fonts only


@dataclass
class Series:
    """One line: its legend name, points, and optional colour, dash and extra hover lines."""

    name: str
    x: Sequence[float]
    y: Sequence[float | None]
    colour: str | None = None
    dash: str = "solid"
    hover: Sequence[str] | None = None  # one extra hover line per point
    mode: str = "lines+markers"
    extra: dict = field(default_factory=dict)  # other trace properties


def _trace(series: Series, log_x: bool) -> tuple[dict, int]:
    points = list(zip(series.x, series.y, series.hover or [""] * len(series.x), strict=True))
    kept = [p for p in points if not log_x or (p[0] is not None and p[0] > 0)]
    trace = {
        "type": "scatter",
        "mode": series.mode,
        "name": series.name,
        "x": [p[0] for p in kept],
        "y": round_significant([float("nan") if p[1] is None else p[1] for p in kept]),
        "line": {"dash": series.dash, "width": 2},
        "marker": {"size": 5},
        "hovertemplate": f"{series.name}<br>%{{x:.3s}}: %{{y:.4g}}%{{text}}<extra></extra>",
        "text": [f"<br>{p[2]}" if p[2] else "" for p in kept],
        **series.extra,
    }
    if series.colour:
        trace["line"]["color"] = trace["marker"]["color"] = series.colour
    return trace, len(points) - len(kept)


def line_figure(
    title: str,
    series: Sequence[Series],
    *,
    y_title: str,
    x_title: str = "tokens",
    log_x: bool = True,
    height: int = 360,
    hlines: Sequence[float] = (),
) -> dict:
    """A line chart spec: one trace per series, a log x axis by default, optional
    horizontal reference lines (e.g. a faithfulness target)."""
    traces, dropped = [], 0
    for s in series:
        trace, n_dropped = _trace(s, log_x)
        traces.append(trace)
        dropped += n_dropped
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "font": {"family": FONT, "size": 11},
        "height": height,
        "margin": {"l": 55, "r": 10, "t": 40, "b": 40},
        "xaxis": {
            "title": {"text": x_title, "standoff": 2},
            "type": "log" if log_x else "linear",
        },
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "y": -0.22, "yanchor": "top", "font": {"size": 10}},
        "hovermode": "closest",
        "shapes": [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": value,
                "y1": value,
                "line": {"dash": "dot", "color": "#888", "width": 1},
            }
            for value in hlines
        ],
    }
    if dropped:
        layout["annotations"] = [
            {
                "text": f"{dropped} point(s) at 0 tokens not drawn (log axis)",
                "xref": "paper",
                "yref": "paper",
                "x": 1,
                "y": 1.02,
                "xanchor": "right",
                "showarrow": False,
                "font": {"size": 10, "color": "#777"},
            }
        ]
    return {"data": traces, "layout": layout}
