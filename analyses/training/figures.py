"""Figures for the training experiments, each saved as PNG and SVG into a run folder.

Figures are ``matplotlib.figure.Figure`` objects (no pyplot, no backend switch), and matplotlib
is imported only when a figure is drawn, so importing the trainer stays light. Saving goes
through the project's one saver, :func:`mechcirc.views.figures.save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mechcirc.runs import RunFolder
from mechcirc.views.figures import save_figure as _save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(**kwargs) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig, run: RunFolder, stem: str) -> list[str]:
    """Write ``stem.png`` and ``stem.svg`` into ``run`` (listed in its manifest); their names."""
    paths = _save_figure(fig, run.path / stem, dpi=110, bbox_inches="tight")
    return [run.file(path.name).name for path in paths]


def accuracy_curves(
    metrics: pd.DataFrame,
    *,
    group: str,
    title: str,
    vlines: Sequence[tuple[int, str]] = (),
    logx: bool = False,
):
    """Train (dashed) and test (solid) accuracy over steps, one colour per ``group`` value.

    ``metrics`` needs ``step``, ``train_acc``, ``test_acc`` and ``group``; a ``seed`` column
    draws one thin line per seed under the mean.
    """
    import matplotlib

    fig = _figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, rows) in enumerate(metrics.groupby(group, sort=False)):
        colour = colours[index % len(colours)]
        mean = rows.groupby("step")[["train_acc", "test_acc"]].mean()
        if "seed" in rows and rows["seed"].nunique() > 1:
            for _, seed_rows in rows.groupby("seed"):
                ax.plot(seed_rows["step"], seed_rows["test_acc"], color=colour, lw=0.5, alpha=0.35)
        ax.plot(mean.index, mean["train_acc"], color=colour, ls="--", lw=1.2)
        ax.plot(mean.index, mean["test_acc"], color=colour, lw=1.8, label=f"{name}")
    for step, label in vlines:
        ax.axvline(step, color="red", ls=":", lw=1.2)
        ax.text(step, 0.02, f" {label}", color="red", fontsize=8)
    if logx:
        ax.set_xscale("symlog", linthresh=100)
    ax.set(xlabel="step", ylabel="accuracy (test solid, train dashed)", title=title, ylim=(0, 1.02))
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3)
    return fig


def interpolation_curve(t: np.ndarray, losses: dict[str, np.ndarray], title: str):
    """Loss along the straight line between two solutions (the barrier plot)."""
    fig = _figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for name, values in losses.items():
        ax.plot(t, values, marker="o", ms=3, label=name)
    ax.set(
        xlabel="t   (t=0: from scratch, t=1: curriculum)", ylabel="cross-entropy loss", title=title
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def attention_heatmap(
    steps: np.ndarray, patterns: np.ndarray, k: int, title: str, switch: int | None
):
    """Mean attention of the query over positions (rows: training steps)."""
    fig = _figure(figsize=(6, 4.5))
    ax = fig.subplots()
    image = ax.imshow(
        patterns,
        aspect="auto",
        cmap="Greys",
        interpolation="nearest",
        extent=(-0.5, patterns.shape[1] - 0.5, steps[-1], steps[0]),
    )
    ax.axvline(k - 0.5, color="red", lw=1.5)
    if switch is not None:
        ax.axhline(switch, color="red", ls=":", lw=1.2)
    ax.set(xlabel="position t (red line: the first k tokens end)", ylabel="step", title=title)
    fig.colorbar(image, ax=ax, label="attention weight")
    return fig


def embedding_scatter(panels: Sequence[tuple[np.ndarray, np.ndarray, str]], title: str):
    """2-D points coloured by an integer label, one panel per ``(points, labels, name)``."""
    fig = _figure(figsize=(5.2 * len(panels), 4.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (points, labels, name) in zip(axes[0], panels, strict=True):
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab20", s=6)
        ax.set(title=name, xlabel="z_A[0]", ylabel="z_A[1]")
        fig.colorbar(scatter, ax=ax, label="sum of the first k tokens")
    fig.suptitle(title)
    return fig


def series_plot(frame: pd.DataFrame, x: str, ys: Sequence[str], title: str, logx: bool = False):
    """Several columns of ``frame`` against ``x`` (tables such as efficiency vs dataset size)."""
    fig = _figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for column in ys:
        ax.plot(frame[x], frame[column], marker="o", label=column)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=x, title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
