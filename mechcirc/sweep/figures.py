"""The paper's views of a sweep, drawn from its tables only (PNG and SVG under ``figures/``).

One line per model, training tokens on a log axis (symmetric-log, so ``step0`` shows at 0):

- ``behaviour``: the task metric (top) and accuracy (bottom), one panel per task;
- ``circuit_size``: in-circuit edges; ``faithfulness``: the plan's criterion value;
- ``jaccard``: weighted Jaccard with the previous (top) and the final (bottom) circuit;
- ``emergence``: for each head score, the head chosen by :func:`emergent_heads`;
- ``head_curves_<model>``: the top-5 heads of each score (the paper's load-balancing view).

Example:
    >>> paths = write_figures(tables, "sweeps/ioi/figures")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mechcirc.sweep.emergence import emergent_heads, top_heads
from mechcirc.views import save_figure

__all__ = ["write_figures"]

PANEL = (4.0, 2.8)
BEHAVIOUR_ROWS = [("clean", "task metric (clean)"), ("accuracy", "accuracy")]
JACCARD_ROWS = [
    ("weighted_jaccard_prev", "w. Jaccard, previous"),
    ("weighted_jaccard_final", "w. Jaccard, final"),
]


def _axes(rows: int, cols: int):
    fig = Figure(figsize=(PANEL[0] * cols, PANEL[1] * rows), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _token_axis(ax, tokens: pd.Series) -> None:
    positive = tokens[tokens > 0]
    ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
    ax.set_xlabel("tokens seen")


def _lines(ax, frame: pd.DataFrame, column: str, label_by: str = "model", **style) -> None:
    for label, group in frame.sort_values("step").groupby(label_by, sort=False):
        ax.plot(group["tokens"], group[column].astype(float), marker=".", label=str(label), **style)
    _token_axis(ax, frame["tokens"])


def _per_task(frame: pd.DataFrame, rows: list[tuple[str, str]], title: str) -> Figure:
    tasks = list(dict.fromkeys(frame["task"]))
    fig, axes = _axes(len(rows), len(tasks))
    for col, task in enumerate(tasks):
        part = frame[frame["task"] == task]
        for row, (column, ylabel) in enumerate(rows):
            ax = axes[row][col]
            _lines(ax, part, column)
            ax.set_title(task if row == 0 else "")
            ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def _emergence(heads: pd.DataFrame, edges: pd.DataFrame) -> Figure | None:
    chosen = emergent_heads(heads, edges)
    if chosen.empty:
        return None
    scores = list(dict.fromkeys(chosen["score"]))
    fig, axes = _axes(1, len(scores))
    for ax, score in zip(axes[0], scores, strict=True):
        for row in chosen[chosen["score"] == score].itertuples(index=False):
            rows = heads[
                (heads["model"] == row.model)
                & (heads["score"] == score)
                & (heads["layer"] == row.layer)
                & (heads["head"] == row.head)
            ]
            rows = rows.assign(label=f"{row.model} a{row.layer}.h{row.head}")
            _lines(ax, rows, "value", label_by="label")
        ax.set_title(score)
        ax.legend(fontsize="x-small")
    fig.suptitle("component emergence: the head chosen for each score")
    return fig


def _head_curves(heads: pd.DataFrame, model: str) -> Figure:
    own = heads[heads["model"] == model]
    scores = list(dict.fromkeys(own["score"]))
    fig, axes = _axes(1, len(scores))
    for ax, score in zip(axes[0], scores, strict=True):
        for layer, head in top_heads(heads, model, score):
            rows = own[(own["score"] == score) & (own["layer"] == layer) & (own["head"] == head)]
            _lines(ax, rows.assign(label=f"a{layer}.h{head}"), "value", label_by="label")
        ax.set_title(score)
        ax.legend(fontsize="x-small")
    fig.suptitle(f"{model}: top-5 heads of each score")
    return fig


def write_figures(tables: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Draw every figure the available tables allow into ``folder``; the paths written."""
    folder = Path(folder)
    made: dict[str, Callable[[], Figure | None]] = {}
    if "behaviour" in tables and len(tables["behaviour"]):
        made["behaviour"] = lambda: _per_task(tables["behaviour"], BEHAVIOUR_ROWS, "task behaviour")
    circuits = tables.get("circuits")
    if circuits is not None and len(circuits):
        fraction = circuits["criterion"].iloc[0] == "fraction-of-clean"
        column = "fraction_of_clean" if fraction else "faithfulness_normalized"
        made["circuit_size"] = lambda: _per_task(circuits, [("n_edges", "edges")], "circuit size")
        made["faithfulness"] = lambda: _per_task(circuits, [(column, column)], "faithfulness")
    evolution = tables.get("evolution")
    if evolution is not None and len(evolution):
        made["jaccard"] = lambda: _per_task(evolution, JACCARD_ROWS, "circuit similarity")
    heads = tables.get("heads")
    if heads is not None and len(heads):
        edges = tables.get("edges", pd.DataFrame(columns=["model", "step", "edge", "in_circuit"]))
        made["emergence"] = lambda: _emergence(heads, edges)
        for model in dict.fromkeys(heads["model"]):
            made[f"head_curves_{model.replace('/', '--')}"] = lambda m=model: _head_curves(heads, m)
    paths = []
    for name, draw in made.items():
        fig = draw()
        if fig is not None:
            paths += save_figure(fig, folder / name, dpi=110)
    return paths
