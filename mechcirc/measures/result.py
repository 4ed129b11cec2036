"""``HeadScore``: one score per attention head plus the data it was computed on.

Example:
    >>> score = HeadScore("induction", torch.zeros(2, 4), {"tokens": torch.zeros(1, 8)}, {})
    >>> scores_frame([score]).columns.tolist()
    ['layer', 'head', 'induction']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor

__all__ = ["HeadScore", "scores_frame"]


@dataclass(frozen=True)
class HeadScore:
    """``values[layer, head]`` of score ``name``; ``inputs`` holds the token data used."""

    name: str
    values: Float[Tensor, "n_layers n_heads"]
    inputs: dict[str, Tensor] = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def top(self, k: int = 3) -> list[tuple[int, int, float]]:
        """The ``k`` highest-scoring heads as ``(layer, head, value)``, NaNs last."""
        flat = torch.nan_to_num(self.values.flatten().float(), nan=float("-inf"))
        order = flat.argsort(descending=True)[:k]
        n_heads = self.values.shape[1]
        return [
            (int(i) // n_heads, int(i) % n_heads, float(self.values.flatten()[i])) for i in order
        ]


def scores_frame(scores: Sequence[HeadScore]):
    """A pandas table with one row per head and one column per score."""
    import pandas as pd

    if not scores:
        return pd.DataFrame(columns=["layer", "head"])
    n_layers, n_heads = scores[0].values.shape
    layers, heads = torch.meshgrid(torch.arange(n_layers), torch.arange(n_heads), indexing="ij")
    table = {"layer": layers.flatten().tolist(), "head": heads.flatten().tolist()}
    for score in scores:
        table[score.name] = score.values.detach().float().cpu().flatten().tolist()
    return pd.DataFrame(table)
