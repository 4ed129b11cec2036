"""The one figure saver of the project: a matplotlib figure as ``stem.png`` and ``stem.svg``.

Figures are built with ``matplotlib.figure.Figure`` (not pyplot), which needs no GUI backend, so
nothing here calls ``matplotlib.use`` and a notebook user's backend is left alone. Saving does not
close or alter the figure: a notebook can still display it afterwards.

Example:
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(3, 2))
    >>> _ = fig.subplots().plot([0, 1], [1, 0])
    >>> paths = save_figure(fig, "runs/demo/line", dpi=110)  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['line.png', 'line.svg']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "save_figure"]

FORMATS = ("png", "svg")


def save_figure(
    fig: Any, stem: str | Path, formats: Sequence[str] = FORMATS, **savefig_kw: Any
) -> list[Path]:
    """Write ``fig`` to ``stem.<format>`` for each format (creating the folder); their paths.

    The format is appended to the stem's name (``"a/b.v2"`` gives ``a/b.v2.png``), and
    ``savefig_kw`` (``dpi``, ``bbox_inches``...) go to every ``fig.savefig`` call.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}.{fmt.lstrip('.')}") for fmt in formats]
    for path in paths:
        fig.savefig(path, **savefig_kw)
    return paths
