"""The report of one ``mechcirc eap`` run folder: circuit drawing, top edges and nodes,
baselines and faithfulness, the faithfulness-vs-size curve and the task's example prompts.

It reads the folder's files (``manifest.json``, ``scores.safetensors`` or ``graph.json``,
``faithfulness.json``, ``examples.jsonl``) and never runs a model. Example prompts are shown as
text when a tokenizer is given, as token ids otherwise.

Example:
    >>> path = write_run_report("runs/eap-demo")  # doctest: +SKIP
    >>> path.name
    'report.html'
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import torch

from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.graph.topology import node_inputs, node_names
from mechcirc.models.protocol import Tokenizer
from mechcirc.report.charts import PALETTE, Series, line_figure
from mechcirc.report.circuit_data import CircuitIndex, ModelShape, edge_selection
from mechcirc.report.page import (
    circuit_view,
    details,
    html_table,
    json_block,
    render_page,
    write_page,
)
from mechcirc.runs import read_manifest

__all__ = ["MAX_EDGES", "N_EXAMPLES", "run_report_data", "run_report_html", "write_run_report"]

MAX_EDGES = 2000  # strongest edges offered besides the circuit's
N_EXAMPLES = 20
TABLE_ROWS = 500  # rows of the node table stored in the page


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"{path.parent} is not a complete eap run folder: {path.name} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def load_run_graph(run_dir: Path) -> CircuitGraph:
    """The run's graph: ``scores.safetensors`` (fast), else ``graph.json``."""
    if (run_dir / "scores.safetensors").is_file():
        return CircuitGraph.load_safetensors(run_dir / "scores.safetensors")
    if (run_dir / "graph.json").is_file():
        return CircuitGraph.load_json(run_dir / "graph.json")
    raise UsageError(f"{run_dir} holds neither scores.safetensors nor graph.json")


def _read_examples(path: Path, limit: int) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                records.append(json.loads(line))
            if len(records) == limit:
                break
    return records


def _example_rows(records: list[dict], tokenizer: Tokenizer | None) -> list[list[str]]:
    def text(ids: list[int]) -> str:
        return tokenizer.decode(ids) if tokenizer is not None else " ".join(map(str, ids))

    def answers(ids: list[int]) -> str:
        return " | ".join(text([i]) for i in ids)

    return [
        [
            text(r["clean_ids"]),
            text(r["corrupted_ids"]),
            answers(r["correct_idx"]),
            answers(r["incorrect_idx"]),
        ]
        for r in records
    ]


def node_table(graph: CircuitGraph) -> dict:
    """Each node's in-circuit in- and out-edges (count, total |score|) and its total |score|
    over every outgoing edge, strongest nodes first."""
    layout, mask = graph.layout, graph.in_graph
    magnitude = graph.scores.abs()
    feeds = node_inputs(layout).to(torch.float64)
    dst_count, dst_sum = mask.sum(0).double(), (magnitude * mask).sum(0).double()
    in_count = torch.cat([feeds @ dst_count, dst_count[layout.logits_dst : layout.logits_dst + 1]])
    in_sum = torch.cat([feeds @ dst_sum, dst_sum[layout.logits_dst : layout.logits_dst + 1]])
    zero = torch.zeros(1, dtype=torch.float64)
    out_count = torch.cat([mask.sum(1).double(), zero])
    out_sum = torch.cat([(magnitude * mask).sum(1).double(), zero])
    out_all = torch.cat([magnitude.sum(1).double(), zero])
    member = graph.node_in_graph
    rows = [
        [name, member[name], int(in_count[i]), int(out_count[i]), in_sum[i], out_sum[i], out_all[i]]
        for i, name in enumerate(node_names(layout))
    ]
    rows.sort(key=lambda r: (-(r[4] + r[5]), -r[6]))
    columns = ["node", "in circuit", "in-edges", "out-edges", "|score| in", "|score| out"]
    return {
        "columns": [*columns, "|score| out, all edges"],
        "rows": [[*r[:4], *(float(f"{v:.4g}") for v in r[4:])] for r in rows[:TABLE_ROWS]],
        "n_rows": len(rows),
    }


def _curve_figure(faith: dict) -> dict:
    points = [p for p in faith.get("search") or [] if isinstance(p, dict)]
    points.sort(key=lambda p: p.get("n_edges", 0))
    x = [p.get("n_edges") for p in points]
    series = [
        Series("normalized", x, [p.get("normalized") for p in points], PALETTE[0]),
        Series("circuit / clean", x, [p.get("fraction_of_clean") for p in points], PALETTE[1]),
    ]
    if faith.get("n_edges"):
        chosen = [faith["n_edges"]]
        series.append(
            Series("chosen circuit", chosen, [faith.get(_score_key(faith))], "#222", mode="markers")
        )
        series[-1].extra = {"marker": {"size": 12, "symbol": "star", "color": "#222"}}
    title = (
        f"Faithfulness vs circuit size ({len(points)} sizes evaluated)"
        if points
        else f"Faithfulness vs circuit size: no size search ({faith.get('selection')})"
    )
    return line_figure(
        title,
        series,
        y_title="faithfulness",
        x_title="edges in circuit",
        hlines=[faith["target"]] if faith.get("target") is not None else [],
    )


def _score_key(faith: dict) -> str:
    return "fraction_of_clean" if faith.get("criterion") == "fraction-of-clean" else "normalized"


def run_report_data(
    run_dir: str | Path, *, tokenizer: Tokenizer | None = None, max_edges: int = MAX_EDGES
) -> dict:
    """Everything the run page shows, as JSON-ready data (see :func:`run_report_html`)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest.get("command") != "eap":
        raise UsageError(
            f"{run_dir} holds a {manifest.get('command')!r} run; a run report needs an 'eap' run"
        )
    faith = _read_json(run_dir / "faithfulness.json")
    graph = load_run_graph(run_dir)
    layout = graph.layout
    index = CircuitIndex(ModelShape(layout.n_layers, layout.n_heads, layout.n_kv_heads))
    src, dst = layout.real_edges.nonzero(as_tuple=True)
    names = [layout.edge_name(s, d) for s, d in zip(src.tolist(), dst.tolist(), strict=True)]
    selection = edge_selection(
        index, names, graph.scores[src, dst].numpy(), graph.in_graph[src, dst].numpy(), max_edges
    )
    examples = _read_examples(run_dir / "examples.jsonl", N_EXAMPLES)
    return {
        "kind": "run",
        "manifest": {k: manifest.get(k) for k in ("config", "inputs", "model", "versions")},
        "timings": manifest.get("timings", {}),
        "faithfulness": {k: v for k, v in faith.items() if k != "search"},
        "n_edges_total": layout.n_edges,
        "graph": index.to_json(),
        "selection": selection,
        "nodes_table": node_table(graph),
        "examples": _example_rows(examples, tokenizer),
        "figures": {"faithfulness-curve": _curve_figure(faith)},
    }


def _title(data: dict) -> str:
    inputs = data["manifest"].get("inputs") or {}
    model, task = inputs.get("model") or {}, inputs.get("task") or {}
    revision = f"@{model['revision']}" if model.get("revision") else ""
    return f"EAP circuit: {model.get('name', '?')}{revision}, task {task.get('name', '?')}"


def _number(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, int | float) else "–"


def _summary_rows(faith: dict, n_edges_total: int) -> list[list[object]]:
    gap = faith.get("baseline_gap") or {}
    steps = f" (m={faith['ig_steps']})" if faith.get("ig_steps") else ""
    return [
        ["method", f"{faith.get('method')}{steps}, {faith.get('n_examples')} examples"],
        ["metric", faith.get("metric")],
        ["clean / corrupted", f"{_number(gap.get('clean'))} / {_number(gap.get('corrupted'))}"],
        ["gap (± stderr)", f"{_number(gap.get('gap'))} ± {_number(gap.get('stderr'), 2)}"],
        ["baseline problem", gap.get("problem") or "none"],
        ["selection", faith.get("selection")],
        ["edges in circuit", f"{faith.get('n_edges')} of {n_edges_total}"],
        ["nodes in circuit", faith.get("n_nodes_in_circuit")],
        ["circuit metric", faith.get("circuit")],
        ["normalized faithfulness", faith.get("normalized")],
        ["circuit / clean", faith.get("fraction_of_clean")],
        ["target reached", f"{faith.get('target_reached')} (target {faith.get('target')})"],
    ]


def run_report_html(data: dict) -> str:
    """The page of :func:`run_report_data`."""
    title = _title(data)
    examples = html_table(["clean", "corrupted", "correct", "incorrect"], data["examples"])
    body = f"""<h1>{html.escape(title)}</h1>
<section><h2>Baselines and faithfulness</h2>
{html_table(["", ""], _summary_rows(data["faithfulness"], data["n_edges_total"]), "summary")}
</section>
<section><h2>Circuit</h2>{circuit_view("circuit")}</section>
<section><h2>Faithfulness vs circuit size</h2><div class="chart" id="faithfulness-curve"></div>
</section>
<section><h2>Top edges</h2><div class="sortable" id="edges-table"></div></section>
<section><h2>Nodes</h2><div class="sortable" id="nodes-table"></div></section>
<section><h2>Example prompts ({len(data["examples"])} shown)</h2>{examples}</section>
{details("Run: config, inputs, model, versions, timings", _run_details(data), "run-details")}"""
    return render_page(title, body, data)


def _run_details(data: dict) -> str:
    return json_block({**data["manifest"], "timings": data["timings"]})


def write_run_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    tokenizer: Tokenizer | None = None,
    max_edges: int = MAX_EDGES,
) -> Path:
    """Write the run's report page to ``out`` (default ``run_dir/report.html``); its path."""
    data = run_report_data(run_dir, tokenizer=tokenizer, max_edges=max_edges)
    return write_page(out or Path(run_dir) / "report.html", run_report_html(data))
