"""Heatmaps of any ``[layer, head]`` table (head scores, path-patching effects) as PNG and SVG.

Example:
    >>> paths = save_heatmap(scores, "runs/demo/induction", title="induction")  # doctest: +SKIP
    >>> [p.suffix for p in paths]
    ['.png', '.svg']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from jaxtyping import Float
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.views.figures import FORMATS, save_figure

__all__ = ["save_heatmap"]


def save_heatmap(
    values: Float[Tensor, "n_layers n_heads"] | np.ndarray,
    stem: str | Path,
    *,
    title: str,
    formats: Sequence[str] = FORMATS,
    diverging: bool | None = None,
    limits: tuple[float, float] | None = None,
) -> list[Path]:
    """Write ``stem.png`` / ``stem.svg``: layers down, heads across, NaN cells blank.

    ``diverging`` (default: when the table has negative values) centres the colour map at 0;
    ``limits`` fixes the colour range (e.g. ``(0, 1)`` so checkpoints compare by colour).
    """
    from matplotlib.figure import Figure

    grid = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=float)
    if grid.ndim != 2 or 0 in grid.shape:
        raise UsageError(f"a heatmap needs a [n_layers, n_heads] table, got shape {grid.shape}")
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise UsageError(f"heatmap formats must be among {FORMATS}, got {unknown}")
    finite = grid[np.isfinite(grid)]
    if diverging is None:
        diverging = bool(finite.size and finite.min() < 0)
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    limit = limit or 1.0
    style = {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit} if diverging else {"cmap": "viridis"}
    if limits is not None:
        style.update(vmin=limits[0], vmax=limits[1])
    n_layers, n_heads = grid.shape
    fig = Figure(figsize=(1.5 + 0.45 * n_heads, 1.2 + 0.4 * n_layers))
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", **style)
    ax.set(xlabel="head", ylabel="layer", title=title)
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return save_figure(fig, stem, formats)
