"""A synthetic decomposition with known answer: gradients built from planted low-rank directions.

Each sample's "gradient" is a sparse random combination of ``n_planted`` unit directions, each a
random Tucker tensor of the given rank over the named shapes (the same parametrisation L3D
learns). A correct fit reconstructs them to ~0 loss and its ``V_out`` rows match the planted
directions up to sign.

Example:
    >>> import torch
    >>> planted = PlantedGradients({"w": (6, 5), "b": (6,)}, n_planted=4, rank=1, seed=0)
    >>> planted.batch(torch.Generator().manual_seed(0), 32).shape
    torch.Size([32, 36])
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.analyses.l3d import Subnetworks


class PlantedGradients:
    """Sparse signed combinations of planted Tucker-rank-``rank`` unit directions."""

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        n_planted: int,
        rank: int = 1,
        active_probability: float = 0.1,
        seed: int = 0,
    ):
        self.shapes = dict(shapes)
        self.active_probability = active_probability
        planted = Subnetworks(shapes, n_planted, ranks=rank, seed=seed + 1_000_003)
        self.directions: Float[Tensor, "n_planted n_params"] = planted.dense("out").detach()

    def batch(self, generator: torch.Generator, n: int) -> Float[Tensor, "n n_params"]:
        n_planted = len(self.directions)
        active = torch.rand(n, n_planted, generator=generator) < self.active_probability
        size = torch.rand(n, n_planted, generator=generator) + 0.5
        sign = torch.randint(0, 2, (n, n_planted), generator=generator) * 2 - 1
        return (active * size * sign) @ self.directions


def direction_recovery(
    planted: Float[Tensor, "n_planted n_params"], learned: Float[Tensor, "n_learned n_params"]
) -> Float[Tensor, " n_planted"]:
    """For each planted direction, the best ``|cos|`` with any learned direction."""
    cos = (
        torch.nn.functional.normalize(planted, dim=1)
        @ torch.nn.functional.normalize(learned, dim=1).T
    )
    return cos.abs().max(dim=1).values
