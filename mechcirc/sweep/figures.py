"""The paper's views of a sweep, drawn from its tables only (PNG and SVG under ``figures/``).

One line per model, training tokens on a log axis (symmetric-log, so ``step0`` shows at 0):

- ``behaviour``: the task metric (top) and accuracy (bottom), one panel per task;
- ``circuit_size``: in-circuit edges; ``faithfulness``: the plan's criterion value;
- ``jaccard``: weighted Jaccard with the previous (top) and the final (bottom) circuit;
- ``emergence``: for each head score, the head chosen by :func:`emergent_heads`;
- ``head_curves_<model>``: the top-5 heads of each score (the paper's load-balancing view);
- ``ioi_consistency``: the share of IOI performance per role class, Fig. 4 panels B-D
  (:func:`mechcirc.analyses.components.plot_ioi_consistency`; x axis: training step);
- ``direct_effect_<model>``: the heads with the largest |direct effect| on the logit difference
  over training (``components`` table), the effect as a fraction of the corruption's; grey
  bands mark checkpoints whose IOI baseline gap is within noise (``circuits`` table).

Example:
    >>> paths = write_figures(tables, "sweeps/ioi/figures")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mechcirc.analyses.components import plot_ioi_consistency
from mechcirc.sweep.emergence import emergent_heads, top_heads
from mechcirc.views import save_figure

__all__ = ["write_figures"]

PANEL = (4.0, 2.8)
BEHAVIOUR_ROWS = [("clean", "task metric (clean)"), ("accuracy", "accuracy")]
TOP_DIRECT = 5
MIN_SHARE_RANGE = 1.0  # percent: the consistency panels' y axis spans at least +-1%
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


def strongest_direct_heads(components: pd.DataFrame, model: str, k: int = TOP_DIRECT) -> list:
    """The ``k`` heads of ``model`` with the largest |direct_effect| at any checkpoint."""
    rows = components[components["model"] == model]
    peaks = rows.assign(m=rows["direct_effect"].abs()).groupby(["layer", "head"])["m"].max()
    ranked = sorted(peaks.dropna().items(), key=lambda item: (-item[1], item[0]))
    return [(int(layer), int(head)) for (layer, head), _ in ranked[:k]]


def unreliable_ioi_tokens(circuits: pd.DataFrame | None, model: str) -> list[int]:
    """Tokens of ``model``'s checkpoints whose IOI clean - corrupted gap is within noise (the
    ``circuits`` table's ``baseline_reliable``; the components use the same prompt pairs)."""
    if circuits is None or circuits.empty:
        return []
    rows = circuits[(circuits["model"] == model) & (circuits["task"] == "ioi")]
    return sorted(int(t) for t in rows.loc[~rows["baseline_reliable"].astype(bool), "tokens"])


def _direct_effects(components: pd.DataFrame, model: str, unreliable: list[int]) -> Figure:
    # a head with several roles has several rows holding the same numbers
    own = components[components["model"] == model].drop_duplicates(["step", "layer", "head"])
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, tokens in enumerate(unreliable):  # effects there divide by a gap within noise
        label = "IOI gap within noise" if i == 0 else None
        ax.axvline(tokens, color="0.9", linewidth=7, zorder=0, label=label)
    for layer, head in strongest_direct_heads(own, model):
        rows = own[(own["layer"] == layer) & (own["head"] == head)]
        _lines(ax, rows.assign(label=f"a{layer}.h{head}"), "direct_effect", label_by="label")
    ax.axhline(0, color="0.7", linewidth=0.8)
    ax.set_ylabel("direct effect / IOI gap")
    ax.legend(fontsize="x-small", loc="best")
    ax.set_title(f"{model}: heads with the largest |direct effect| on IOI", fontsize=10)
    return fig


def _consistency(frame: pd.DataFrame) -> Figure:
    """Fig. 4 B-D, drawn by the components analysis; released from pyplot's registry at once
    (closing keeps the figure drawable), so a long sweep does not accumulate open figures."""
    import matplotlib.pyplot as plt  # after plot_ioi_consistency chose the Agg backend

    fig = plot_ioi_consistency(frame)
    plt.close(fig)
    low, high = fig.axes[0].get_ylim()  # the panels share y; all-zero shares: show +-1%
    fig.axes[0].set_ylim(min(low, -MIN_SHARE_RANGE), max(high, MIN_SHARE_RANGE))
    fig.tight_layout()  # the new tick labels may be wider
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
    consistency, components = tables.get("ioi_consistency"), tables.get("components")
    if consistency is not None and len(consistency):
        made["ioi_consistency"] = lambda: _consistency(consistency)
    if components is not None and len(components):
        for model in dict.fromkeys(components["model"]):
            name = f"direct_effect_{model.replace('/', '--')}"
            unreliable = unreliable_ioi_tokens(circuits, model)
            made[name] = lambda m=model, u=unreliable: _direct_effects(components, m, u)
    paths = []
    for name, draw in made.items():
        fig = draw()
        if fig is not None:
            paths += save_figure(fig, folder / name, dpi=110)
    return paths
