"""L3D figures (matplotlib ``Figure`` objects, no pyplot), each written as ``.png`` and ``.svg``.

- :func:`plot_intervention_curves`: mean output change vs ``delta`` on samples where a
  subnetwork is active and on the rest (a selective subnetwork shows the first well above).
- :func:`plot_subnetworks`: the paper's subnetwork pictures as heat maps, one row per subnetwork,
  one panel per parameter tensor, with ``P_act``.
- :func:`plot_output_scatter`: the paper's intervention figures: output ``i`` against input ``i``
  for every feature, one panel per (row, column) perturbation.
- :func:`plot_scatter`: a labelled ``x`` vs ``y`` scatter (recovered vs true ``A``).

Example:
    >>> plot_intervention_curves(curves, "run/interventions")  # doctest: +SKIP
    [PosixPath('run/interventions.png'), PosixPath('run/interventions.svg')]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.views.figures import save_figure

__all__ = [
    "plot_intervention_curves",
    "plot_output_scatter",
    "plot_scatter",
    "plot_subnetworks",
]


def _grid(n_rows: int, n_cols: int, width: float = 3.0, height: float = 2.5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_cols, height * n_rows))
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def plot_intervention_curves(curves, stem: str | Path, max_panels: int = 16) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` from an :func:`intervention_curves` DataFrame."""
    ids = sorted(curves["subnetwork"].unique())[:max_panels]
    cols = min(4, len(ids))
    fig, axes = _grid(math.ceil(len(ids) / cols), cols, 3.2, 2.6)
    for ax, k in zip(axes.flat, ids, strict=False):
        part = curves[curves["subnetwork"] == k].sort_values("delta")
        ax.plot(part["delta"], part["active"], "o-", color="tab:red", label="active")
        ax.plot(part["delta"], part["inactive"], "s--", color="tab:blue", label="inactive")
        ax.set_xscale("log")
        if (part[["active", "inactive"]] > 0).all().all():
            ax.set_yscale("log")
        ax.set_title(f"subnetwork {k} (n active {int(part['n_active'].iloc[0])})", fontsize=9)
        ax.set_xlabel("delta")
        ax.set_ylabel("output change")
    for ax in list(axes.flat)[len(ids) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, stem, dpi=110)


def plot_subnetworks(
    subnetworks: Subnetworks, frequency: Tensor, stem: str | Path, title: str = ""
) -> list[Path]:
    """Each subnetwork's tensors (``V_out``) as heat maps on one symmetric colour scale."""
    names = subnetworks.names
    fig, axes = _grid(subnetworks.n_subnetworks, len(names), 1.8, 1.4)
    for k in range(subnetworks.n_subnetworks):
        parts = subnetworks.direction(k)
        scale = max(float(p.abs().max()) for p in parts.values()) or 1.0
        for ax, name in zip(axes[k], names, strict=True):
            part = parts[name]
            image = part.reshape(1, -1) if part.ndim < 2 else part.reshape(part.shape[0], -1)
            ax.imshow(image.cpu(), cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_title(name, fontsize=8)
        axes[k][0].set_ylabel(f"v{k}\nP_act {float(frequency[k]):.2f}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, stem, dpi=110)


def plot_output_scatter(
    inputs: Tensor,
    panels: dict[tuple[str, str], Tensor],
    stem: str | Path,
    *,
    truth=None,
    title: str = "",
) -> list[Path]:
    """Output ``i`` against input ``i`` for every feature, one panel per ``(row, col)`` label.

    Only samples where input ``i`` is non-zero are drawn for feature ``i``; ``truth`` (a
    function of x) is drawn as a black line.
    """
    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig, axes = _grid(len(rows), len(cols), 2.2, 2.0)
    colours = [f"C{i % 10}" for i in range(inputs.shape[1])]
    line = torch.linspace(float(inputs.min()), float(inputs.max()), 100)
    for (row, col), outputs in panels.items():
        ax = axes[rows.index(row)][cols.index(col)]
        if truth is not None:
            ax.plot(line, truth(line), "k-", linewidth=0.8)
        for i in range(inputs.shape[1]):
            on = inputs[:, i] != 0
            ax.plot(inputs[on, i], outputs[on, i], ".", markersize=2, color=colours[i])
        ax.set_title(f"{col} {row}".strip(), fontsize=7)
        ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, stem, dpi=110)


def plot_scatter(
    x: Sequence[float],
    y: Sequence[float],
    stem: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
) -> list[Path]:
    """One scatter plot."""
    fig, axes = _grid(1, 1, 3.6, 3.0)
    axes[0][0].plot(list(x), list(y), ".", markersize=4)
    axes[0][0].set_xlabel(xlabel)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, stem, dpi=110)
