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

__all__ = [
    "accuracy_curves",
    "attention_graph",
    "attention_heatmap",
    "counting_heatmap",
    "embedding_scatter",
    "interpolation_curve",
    "proxy_curves",
    "save_figure",
    "series_plot",
    "series_plot_by",
    "trajectory_plot",
]

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


def proxy_curves(proxies: pd.DataFrame, keys: Sequence[int], title: str):
    """``C_gen`` / ``C_mem`` proxies (logits) and the parameter norm over training; ``keys``:
    the key frequencies ``C_gen`` sums over."""
    fig = _figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    labels = {
        "c_gen": f"C_gen: key-frequency logit (k in {list(keys)})",
        "c_mem": "C_mem: rest of the train correct logit",
        "test_residual": "rest of the test correct logit",
    }
    for column, label in labels.items():
        if column in proxies:
            ax.plot(proxies["step"], proxies[column], label=label)
    ax.set(xlabel="step", ylabel="centred correct-class logit", title=title)
    ax.grid(alpha=0.3)
    norm = ax.twinx()
    norm.plot(proxies["step"], proxies["param_norm"], color="black", ls=":", label="param norm")
    norm.set_ylabel("parameter norm (dotted)")
    lines = ax.get_legend_handles_labels()[0] + norm.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper right")
    return fig


def series_plot_by(frame: pd.DataFrame, x: str, y: str, group: str, title: str):
    """``y`` against ``x``, one line per value of ``group`` (e.g. norm over steps per size)."""
    fig = _figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for name, rows in frame.groupby(group, sort=False):
        ax.plot(rows[x], rows[y], label=str(name))
    ax.set(xlabel=x, ylabel=y, title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def counting_heatmap(tokens: np.ndarray, patterns: dict[str, np.ndarray], k: int, title: str):
    """Fig. 3: rows are inputs (tokens written in the cells, zeros among the first ``k`` in
    bold), columns positions; one panel per stage of the attention over positions."""
    fig = _figure(figsize=(3.2 * (len(patterns) + 1), 0.22 * len(tokens) + 1.4))
    axes = fig.subplots(1, len(patterns) + 1, squeeze=False)[0]
    order = np.argsort((tokens[:, :k] == 0).sum(1), kind="stable")
    axes[0].imshow(np.zeros_like(tokens, dtype=float), cmap="Greys", vmin=0, vmax=1)
    for row, index in enumerate(order):
        for col, token in enumerate(tokens[index]):
            bold = "bold" if col < k and token == 0 else "normal"
            axes[0].text(col, row, str(token), ha="center", va="center", size=7, weight=bold)
    axes[0].set_title("inputs (sorted by zeros in the first k)", fontsize=8)
    for ax, (stage, pattern) in zip(axes[1:], patterns.items(), strict=True):
        image = ax.imshow(pattern[order], cmap="Blues", vmin=0, aspect="auto")
        ax.set_title(f"attention, {stage}", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.6)
    for ax in axes:
        ax.axvline(k - 0.5, color="red", lw=1.2)
        ax.set_xticks(range(tokens.shape[1]))
        ax.set_yticks([])
        ax.set_xlabel("position t")
    fig.suptitle(title, fontsize=9)
    return fig


def attention_graph(trace: np.ndarray, frames: Sequence[int], token: int, k: int):
    """Fig. 2: the attention of one fixed sequence as a bipartite graph at several updates;
    edge width is the attention weight, colour the sign of its last change (red grew, blue
    shrank)."""
    seq = trace.shape[1]
    fig = _figure(figsize=(2.6 * len(frames), 2.6))
    axes = fig.subplots(1, len(frames), squeeze=False)[0]
    for ax, step in zip(axes, frames, strict=True):
        change = trace[step] - trace[max(step - 1, 0)]
        widths = 7 * trace[step] / trace[step].max()
        for t in range(seq):
            colour = "#c80000" if change[t] > 0 else "#0000b1"
            ax.plot([t, (seq - 1) / 2], [0, -1], color=colour, lw=max(widths[t], 0.2))
        ax.scatter(range(seq), [0] * seq, s=140, c="white", edgecolors="grey", zorder=3)
        ax.scatter([(seq - 1) / 2], [-1], s=140, c="#dddddd", edgecolors="grey", zorder=3)
        ax.text((seq - 1) / 2, -1, "z", ha="center", va="center", size=7, zorder=4)
        for t in range(seq):
            ax.text(t, 0, str(token), ha="center", va="center", size=7, zorder=4)
        ax.axvline(k - 0.5, color="grey", ls=":", lw=0.8)
        epoch, batch = divmod(step, 64)
        ax.set_title(f"update {step} (epoch {epoch}, batch {batch})", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(
        "Attention of the fixed sequence (all 3s) after mini-batch updates: width relative to "
        "the frame's largest weight; red grew, blue shrank at that update; dotted: end of the "
        "first k",
        fontsize=8,
        y=1.08,
    )
    return fig


def trajectory_plot(
    coordinates: dict[str, np.ndarray], switches: dict[str, int], explained: np.ndarray, title: str
):
    """Fig. 7: runs' parameter trajectories in 2-D; start (black circle), end (black cross),
    switch p=2 -> p=4 (red circle)."""
    fig = _figure(figsize=(6.5, 5))
    ax = fig.subplots()
    for name, xy in coordinates.items():
        ax.plot(xy[:, 0], xy[:, 1], marker=".", ms=3, lw=1, label=name)
        ax.scatter(*xy[0], s=60, facecolors="none", edgecolors="black", zorder=3)
        ax.scatter(*xy[-1], s=60, marker="x", color="black", zorder=3)
        if name in switches:
            ax.scatter(*xy[switches[name]], s=90, facecolors="none", edgecolors="red", zorder=3)
    ax.set(
        xlabel=f"PC 1 ({explained[0]:.0%} of variance)",
        ylabel=f"PC 2 ({explained[1]:.0%})",
        title=title,
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig
