"""The sweep page's fixed views: curves over training per task (behaviour, circuit size,
faithfulness, weighted Jaccard with the previous and final circuit, component emergence;
tokens on a log axis, one colour per model) and the attention views' circuitsvis props.

Example:
    >>> sweep = read_sweep("sweeps/ioi-gt")  # doctest: +SKIP
    >>> figures, charts = training_figures(sweep, sweep.models, sweep.tasks)  # doctest: +SKIP
    >>> charts["ioi"][:2]  # doctest: +SKIP
    ['training-0-behaviour', 'training-0-size']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mechcirc.report.charts import PALETTE, Series, line_figure
from mechcirc.report.emergence import emergent_heads
from mechcirc.report.sweep_folder import Sweep
from mechcirc.views.html_page import AttentionView

__all__ = ["attention_entries", "training_figures"]


def _colour(models: list[str], model: str) -> str:
    return PALETTE[models.index(model) % len(PALETTE)]


def _curve(frame: pd.DataFrame, column: str) -> tuple[list, list]:
    frame = frame.sort_values("step")
    return frame["tokens"].tolist(), frame[column].astype(float).tolist()


def _per_model(
    table: pd.DataFrame, task: str, models: list[str], columns: dict[str, str]
) -> list[Series]:
    """One series per (model, column): ``columns`` maps a column to its dash style."""
    series = []
    rows = table[table["task"] == task]
    for model in models:
        frame = rows[rows["model"] == model]
        if frame.empty:
            continue
        for column, dash in columns.items():
            x, y = _curve(frame, column)
            label = model if len(columns) == 1 else f"{model} {column}"
            series.append(Series(label, x, y, _colour(models, model), dash))
    return series


def _behaviour(sweep: Sweep, task: str, models: list[str]) -> dict:
    rows = sweep.tables["behaviour"]
    rows = rows[rows["task"] == task]
    series = []
    for model in models:
        frame = rows[rows["model"] == model].sort_values("step")
        if frame.empty:
            continue
        hover = [
            f"corrupted {c:.4g}, accuracy {a:.3g}"
            for c, a in zip(frame["corrupted"], frame["accuracy"], strict=True)
        ]
        x, y = _curve(frame, "clean")
        series.append(Series(model, x, y, _colour(models, model), hover=hover))
    metric = ", ".join(sorted(set(rows["metric"].astype(str)))) or "metric"
    return line_figure(f"{task}: behaviour (clean {metric})", series, y_title=metric)


def _emergence(sweep: Sweep, task: str, models: list[str], chosen: pd.DataFrame) -> dict:
    heads = sweep.tables["heads"]
    series = []
    dashes = ("solid", "dash", "dot", "dashdot")
    picks = chosen[chosen["task"] == task]
    for i, pick in enumerate(picks.itertuples(index=False)):
        frame = heads[
            (heads["model"] == pick.model)
            & (heads["score"] == pick.score)
            & (heads["layer"] == pick.layer)
            & (heads["head"] == pick.head)
        ]
        x, y = _curve(frame, "value")
        name = f"{pick.model} a{pick.layer}.h{pick.head} {pick.score}"
        hover = [f"in the circuit at {pick.presence} checkpoints"] * len(x)
        dash = dashes[i % len(dashes)]
        series.append(Series(name, x, y, _colour(models, pick.model), dash, hover=hover))
    return line_figure(f"{task}: component emergence", series, y_title="head score")


def training_figures(
    sweep: Sweep, models: list[str], tasks: list[str]
) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Figure specs by element id, and the ids of each task's charts in page order."""
    circuits, evolution = sweep.tables["circuits"], sweep.tables["evolution"]
    chosen = emergent_heads(sweep.tables["heads"], sweep.tables["edges"])
    figures, charts = {}, {}
    for t, task in enumerate(tasks):
        views = {
            "behaviour": _behaviour(sweep, task, models),
            "size": line_figure(
                f"{task}: circuit size",
                _per_model(circuits, task, models, {"n_edges": "solid"}),
                y_title="edges in circuit",
            ),
            "faithfulness": line_figure(
                f"{task}: faithfulness (solid normalized, dashed circuit/clean)",
                _per_model(
                    circuits,
                    task,
                    models,
                    {"faithfulness_normalized": "solid", "fraction_of_clean": "dash"},
                ),
                y_title="faithfulness",
            ),
            "jaccard": line_figure(
                f"{task}: weighted Jaccard (solid previous, dashed final)",
                _per_model(
                    evolution,
                    task,
                    models,
                    {"weighted_jaccard_prev": "solid", "weighted_jaccard_final": "dash"},
                ),
                y_title="weighted Jaccard",
            ),
            "emergence": _emergence(sweep, task, models, chosen),
        }
        charts[task] = [f"training-{t}-{view}" for view in views]
        figures.update({f"training-{t}-{view}": spec for view, spec in views.items()})
    return figures, charts


def attention_entries(entries: list[dict]) -> list[dict]:
    """One circuitsvis ``AttentionHeads`` view per (model, task, prompt), checked by
    :class:`~mechcirc.views.AttentionView`, patterns rounded to 4 decimals; entries without
    heads are left out."""
    views = []
    for i, entry in enumerate(entries):
        heads = [str(h) for h in entry.get("heads", [])]
        if not heads:  # an empty circuit has no heads to show
            continue
        for j, prompt in enumerate(entry.get("prompts", [])):
            patterns = torch.tensor(np.round(np.asarray(prompt["patterns"], dtype=float), 4))
            view = AttentionView(
                f"{entry.get('model')} · {entry.get('task')} · {entry.get('revision')} · "
                f"prompt {j + 1}",
                [str(t) for t in prompt["tokens"]],
                patterns,
                heads,
            )
            props = view.props()
            props["attention"] = np.round(np.asarray(props["attention"]), 4).tolist()
            views.append({"div": f"attention-{i}-{j}", "title": view.title, "props": props})
    return views
