"""The report of a sweep folder: every model and task over training, IOI algorithm consistency
(when the sweep ran ``ioi-components``), a checkpoint explorer
(circuit drawing and head-score heatmaps at the chosen checkpoint, a head's scores over
training on click), attention patterns at the final checkpoint, and the plan, versions and
failed units.

The page stores what each view needs: per (model, task, checkpoint) the in-circuit edges plus
the ``max_edges`` strongest (indices into one edge table per model), the head scores as
``[layer][head]`` grids, and the tables' curves; numbers keep 4 significant digits.

Example:
    >>> path = write_sweep_report("sweeps/ioi-gt")  # doctest: +SKIP
    >>> path.name
    'report.html'
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mechcirc.report.circuit_data import CircuitIndex, ModelShape, edge_selection, round_significant
from mechcirc.report.consistency import consistency_data, consistency_section
from mechcirc.report.page import (
    circuit_view,
    details,
    html_table,
    json_block,
    render_page,
    write_page,
)
from mechcirc.report.sweep_folder import Sweep, read_sweep
from mechcirc.report.sweep_views import attention_entries, training_figures

__all__ = ["MAX_EDGES", "sweep_report_data", "sweep_report_html", "write_sweep_report"]

MAX_EDGES = 2000
_LAYER_HEAD = re.compile(r"a(\d+)\.h(\d+)|m(\d+)")


def checkpoints(sweep: Sweep, model: str) -> pd.DataFrame:
    """``revision, step, tokens`` of every checkpoint of ``model`` with rows, by step."""
    frames = []
    for name in ("behaviour", "circuits", "heads", "edges"):
        table = sweep.tables[name]
        rows = table[table["model"] == model]
        columns = ["revision", "step", "tokens"] if "tokens" in rows else ["revision", "step"]
        frames.append(rows[columns])
    found = pd.concat(frames).sort_values("tokens", na_position="last")
    found = found.drop_duplicates("revision").sort_values("step", kind="stable")
    return found.reset_index(drop=True)


def infer_shape(heads: pd.DataFrame, edge_names: list[str]) -> ModelShape:
    """Layers and heads from the head table and the edge names (the tables do not record
    grouped-query attention, so k/v edges are drawn into the head of the same index)."""
    n_layers = int(heads["layer"].max()) + 1 if len(heads) else 1
    n_heads = int(heads["head"].max()) + 1 if len(heads) else 1
    for name in edge_names:
        for head_layer, head, mlp_layer in _LAYER_HEAD.findall(name):
            n_layers = max(n_layers, int(head_layer or mlp_layer) + 1)
            n_heads = max(n_heads, int(head or 0) + 1)
    return ModelShape(n_layers, n_heads)


def _head_grids(heads: pd.DataFrame, points: pd.DataFrame, shape: ModelShape) -> dict:
    """Per head score: one ``[layer][head]`` grid per checkpoint (None where absent), the
    colour range over training, and the head shown first (the strongest at the end)."""
    position = {rev: i for i, rev in enumerate(points["revision"])}
    scores = sorted(set(heads["score"].astype(str)))
    values, ranges = {}, {}
    for score in scores:
        rows = heads[heads["score"] == score]
        grid = np.full((len(points), shape.n_layers, shape.n_heads), np.nan)
        index = rows["revision"].map(position).to_numpy()
        grid[index, rows["layer"].to_numpy(int), rows["head"].to_numpy(int)] = rows["value"]
        values[score] = [
            None if np.isnan(grid[i]).all() else [round_significant(layer) for layer in grid[i]]
            for i in range(len(points))
        ]
        ranges[score] = round_significant([np.nanmin(grid), np.nanmax(grid)])
    first = [0, 0]
    if scores:
        final = heads[
            (heads["score"] == scores[0]) & (heads["revision"] == points["revision"].iloc[-1])
        ]
        if len(final):
            best = final.loc[final["value"].idxmax()]
            first = [int(best["layer"]), int(best["head"])]
    return {"scores": scores, "values": values, "range": ranges, "first": first}


def _model_data(sweep: Sweep, model: str, tasks: list[str], max_edges: int) -> dict:
    points = checkpoints(sweep, model)
    edges = sweep.tables["edges"]
    edges = edges[edges["model"] == model]
    heads = sweep.tables["heads"]
    heads = heads[heads["model"] == model]
    shape = infer_shape(heads, list(edges["edge"].astype(str).unique()))
    index = CircuitIndex(shape)
    groups = dict(list(edges.groupby(["task", "revision"], sort=False)))
    circuits = {}
    for task in tasks:
        circuits[task] = []
        for revision in points["revision"]:
            rows = groups.get((task, revision))
            circuits[task].append(
                None
                if rows is None
                else edge_selection(
                    index,
                    rows["edge"].astype(str).tolist(),
                    rows["score"].to_numpy(np.float64),
                    rows["in_circuit"].to_numpy(bool),
                    max_edges,
                )
            )
    tokens = points["tokens"].astype(float)
    return {
        "shape": {"n_layers": shape.n_layers, "n_heads": shape.n_heads},
        "checkpoints": {
            "revision": points["revision"].astype(str).tolist(),
            "step": points["step"].astype(int).tolist(),
            "tokens": [None if np.isnan(t) else int(t) for t in tokens],
        },
        "graph": index.to_json(),
        "circuits": circuits,
        "heads": _head_grids(heads, points, shape),
    }


def sweep_report_data(sweep_dir: str | Path, *, max_edges: int = MAX_EDGES) -> dict:
    """Everything the sweep page shows, as JSON-ready data (see :func:`sweep_report_html`)."""
    sweep = read_sweep(sweep_dir)
    models, tasks = sweep.models, sweep.tasks
    figures, charts = training_figures(sweep, models, tasks)
    consistency = consistency_data(sweep, models)
    if consistency is not None:
        figures.update(consistency.pop("figures"))
    return {
        "kind": "sweep",
        "name": Path(sweep_dir).resolve().name,
        "models": {m: _model_data(sweep, m, tasks, max_edges) for m in models},
        "tasks": tasks,
        "figures": figures,
        "charts": charts,
        "consistency": consistency,
        "attention": attention_entries(sweep.attention),
        "meta": sweep.meta,
        "missing": list(sweep.missing),
    }


def _options(element_id: str, values: list[str]) -> str:
    options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
    return f'<select id="{element_id}">{options}</select>'


def _training_section(data: dict) -> str:
    parts = ['<section id="training"><h2>Over training</h2>']
    if data["missing"]:
        parts.append(f'<p class="note">Not in this sweep: {", ".join(data["missing"])}.</p>')
    for task, chart_ids in data["charts"].items():
        divs = "".join(f'<div class="chart" id="{c}"></div>' for c in chart_ids)
        parts.append(f'<h3>{html.escape(task)}</h3><div class="grid">{divs}</div>')
    return "".join(parts) + "</section>"


def _explorer_section(data: dict) -> str:
    return f"""<section id="explorer"><h2>Checkpoint explorer</h2>
<div class="explorer-controls controls">
<label>model {_options("model-select", list(data["models"]))}</label>
<label>task {_options("task-select", data["tasks"])}</label>
<label>checkpoint <input type="range" id="checkpoint-slider" min="0" max="0" value="0"></label>
<strong id="checkpoint-label"></strong></div>
<h3>Circuit at this checkpoint</h3>{circuit_view("sweep-circuit")}
<h3>Head scores at this checkpoint</h3>
<p class="note">Hover a cell for the head and its value; click it for its scores over
training. Colour ranges are fixed over training, so checkpoints compare by colour.</p>
<div class="heatmaps" id="heatmaps"></div><div class="chart" id="head-history"></div>
</section>"""


def _attention_section(data: dict) -> str:
    if not data["attention"]:
        return ""
    parts = [
        '<section id="attention"><h2>Attention patterns at the final checkpoint</h2>'
        '<p class="note">The heads with the most in-circuit |edge score|, on a few of the '
        'task\'s clean prompts.</p><div class="attention-grid">'
    ]
    for entry in data["attention"]:
        parts.append(
            f'<div class="attention-view"><h3>{html.escape(entry["title"])}</h3>'
            f'<div id="{entry["div"]}"></div></div>'
        )
    return "".join(parts) + "</div></section>"


def _meta_section(meta: dict) -> str:
    failed = [u for u in meta.get("units", []) if u.get("status") == "failed"]
    rows = [
        [
            u.get("model"),
            u.get("revision"),
            (u.get("error") or {}).get("type"),
            (u.get("error") or {}).get("message"),
        ]
        for u in failed
    ]
    inner = (
        f"<h3>Failed units ({len(failed)})</h3>"
        + html_table(["model", "revision", "error", "message"], rows)
        + "<h3>Status</h3>"
        + json_block(meta.get("status", {}))
        + "<h3>Versions</h3>"
        + json_block(meta.get("versions", {}))
        + "<h3>Plan</h3>"
        + json_block(meta.get("plan", {}))
    )
    return details(f"Plan, versions and failed units ({len(failed)} failed)", inner, "sweep-meta")


def sweep_report_html(data: dict) -> str:
    """The page of :func:`sweep_report_data`."""
    status = data["meta"].get("status") or {}
    counts = ", ".join(f"{v} {k}" for k, v in status.items())
    n_points = sum(len(m["checkpoints"]["step"]) for m in data["models"].values())
    title = f"Circuits over training: {data['name']}"
    body = (
        f"<h1>{html.escape(title)}</h1><p>{len(data['models'])} model(s): "
        f"{html.escape(', '.join(data['models']))}; tasks {html.escape(', '.join(data['tasks']))}; "
        f"{n_points} checkpoints with results; units: {html.escape(counts)}.</p>"
        + _training_section(data)
        + consistency_section(data["consistency"])
        + _explorer_section(data)
        + _attention_section(data)
        + _meta_section(data["meta"])
    )
    shown = {k: v for k, v in data.items() if k != "meta"}  # the meta is markup, not data
    return render_page(title, body, shown, attention=bool(data["attention"]))


def write_sweep_report(
    sweep_dir: str | Path, out: str | Path | None = None, *, max_edges: int = MAX_EDGES
) -> Path:
    """Write the sweep's report page to ``out`` (default ``sweep_dir/report.html``); its path."""
    data = sweep_report_data(sweep_dir, max_edges=max_edges)
    return write_page(out or Path(sweep_dir) / "report.html", sweep_report_html(data))
