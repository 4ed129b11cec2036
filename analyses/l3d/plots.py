"""Intervention-curve figures (a matplotlib ``Figure``, no pyplot): one panel per subnetwork.

Each panel plots the mean output change against the perturbation size ``delta`` for the samples
where the subnetwork is active and for the rest, on log axes; a selective subnetwork shows the
active curve well above the inactive one.

Example:
    >>> plot_intervention_curves(curves, "run/interventions")  # doctest: +SKIP
    [PosixPath('run/interventions.png'), PosixPath('run/interventions.svg')]
"""

from __future__ import annotations

import math
from pathlib import Path

from mechcirc.views.figures import save_figure


def plot_intervention_curves(curves, stem: str | Path, max_panels: int = 16) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` from an :func:`intervention_curves` DataFrame."""
    from matplotlib.figure import Figure

    ids = sorted(curves["subnetwork"].unique())[:max_panels]
    cols = min(4, len(ids))
    rows = math.ceil(len(ids) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
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
