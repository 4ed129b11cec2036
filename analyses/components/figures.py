"""Tigges et al.'s Fig. 4 layout: the share of IOI performance per component class over
training, one panel per class (B: name movers + copy suppression, direct effect; C: S-inhibition
heads' paths into the name movers' queries; D: induction / duplicate-token heads' paths into the
S-inhibition heads' values), one line per model.

Reads a table with columns ``model``, ``step``, ``role``, ``share`` (``ioi_consistency.parquet``
rows with the sweep's ``model`` and ``step``).

Example:
    >>> path = plot_ioi_consistency(frame, "ioi_consistency.png")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mechcirc.errors import UsageError

__all__ = ["PANELS", "plot_ioi_consistency"]

PANELS = {
    "direct": "B: NMH + CSH direct effect",
    "s_inhibition": "C: S-inhibition -> NMH queries",
    "induction_duplicate": "D: induction / duplicate -> S-inhibition",
}


def plot_ioi_consistency(frame: pd.DataFrame, path: str | Path | None = None):
    """The three-panel figure; saved to ``path`` (PNG or SVG) when given. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missing = {"model", "step", "role", "share"} - set(frame.columns)
    if missing:
        raise UsageError(f"the consistency table lacks columns {sorted(missing)}")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2), sharey=True)
    for ax, (role, title) in zip(axes, PANELS.items(), strict=True):
        rows = frame[frame["role"] == role].sort_values("step")
        for model, group in rows.groupby("model", sort=True):
            ax.plot(group["step"], group["share"], marker="o", markersize=3, label=str(model))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step")
        if rows["step"].max() > 0 and rows["step"].nunique() > 2:
            ax.set_xscale("symlog", linthresh=1)
        ax.axhline(0, color="0.7", linewidth=0.8)
    axes[0].set_ylabel("% of IOI performance")
    axes[-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
