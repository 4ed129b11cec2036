"""Subnetworks: ``n_v`` low-rank directions in parameter space, with separate input and output maps.

Each subnetwork k has, for every parameter tensor of the group, a Tucker factorisation
``core[k] x_1 U1[k] x_2 U2[k] ...`` with ranks ``min(rank, dim)`` (a rank-1 matrix part is
``u v^T``; a vector part is any vector). ``V_in`` (parameters -> subnetwork activations) and
``V_out`` (activations -> parameters) are two such maps. ``V_out`` rows have unit norm over the
whole group (``renormalise`` after each optimiser step), so an activation is the size of the
subnetwork's share of a gradient and a perturbation ``delta * V_out[k]`` moves the parameters by
``delta``.

Example:
    >>> import torch
    >>> subnets = Subnetworks({"w": (4, 3), "b": (4,)}, n_subnetworks=2, rank=1, seed=0)
    >>> subnets.dense("out").shape  # [n_subnetworks, 4*3 + 4]
    torch.Size([2, 16])
"""

from __future__ import annotations

import string
from collections.abc import Mapping

import torch
from jaxtyping import Float
from torch import Tensor, nn

from mechcirc.errors import UsageError


def _tucker_einsum(ndim: int) -> str:
    """``"kab,kia,kjb->kij"`` for a 2-D tensor: core then one factor per mode, batched over k."""
    ranks = string.ascii_lowercase[:ndim]
    dims = string.ascii_lowercase[ndim : 2 * ndim]
    factors = ",".join(f"k{d}{r}" for d, r in zip(dims, ranks, strict=True))
    return f"k{ranks},{factors}->k{dims}"


class TuckerMap(nn.Module):
    """``n`` Tucker-factored tensors of one shape: ``core [n, r...]`` and ``U_m [n, d_m, r_m]``."""

    def __init__(self, shape: tuple[int, ...], n: int, rank: int, generator: torch.Generator):
        super().__init__()
        self.shape = tuple(shape)
        ranks = [min(rank, d) for d in self.shape]
        self.core = nn.Parameter(torch.randn(n, *ranks, generator=generator))
        self.factors = nn.ParameterList(
            nn.Parameter(torch.randn(n, d, r, generator=generator) / d**0.5)
            for d, r in zip(self.shape, ranks, strict=True)
        )
        self._equation = _tucker_einsum(len(self.shape))

    def dense(self) -> Float[Tensor, "n ..."]:
        if not self.shape:  # a scalar parameter: the core is the value
            return self.core
        return torch.einsum(self._equation, self.core, *self.factors)


class Subnetworks(nn.Module):
    """``V_in`` and ``V_out`` of ``n_subnetworks`` Tucker-factored directions over named tensors."""

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        n_subnetworks: int,
        rank: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        if n_subnetworks < 1 or rank < 1:
            raise UsageError(f"n_subnetworks and rank must be >= 1, got {n_subnetworks} and {rank}")
        if not shapes:
            raise UsageError("no parameters to decompose: the parameter group is empty")
        self.names = list(shapes)
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        self.n_subnetworks = n_subnetworks
        self.rank = rank
        generator = torch.Generator().manual_seed(seed)
        # nn.ModuleDict keys may not contain dots: index tensors by position.
        self.v_out = nn.ModuleList(
            TuckerMap(self.shapes[n], n_subnetworks, rank, generator) for n in self.names
        )
        self.v_in = nn.ModuleList(
            TuckerMap(self.shapes[n], n_subnetworks, rank, generator) for n in self.names
        )
        self.renormalise()
        with torch.no_grad():  # start from V_in = V_out (a projection), as SAEs tie at init
            for source, target in zip(self.v_out.parameters(), self.v_in.parameters(), strict=True):
                target.copy_(source)

    def dense(self, which: str) -> Float[Tensor, "n_subnetworks n_params"]:
        """``V_in`` or ``V_out`` as a dense ``[n_subnetworks, n_params]`` matrix (names' order)."""
        maps = {"in": self.v_in, "out": self.v_out}[which]
        return torch.cat([m.dense().reshape(self.n_subnetworks, -1) for m in maps], dim=1)

    def unflatten(self, flat: Float[Tensor, "... n_params"]) -> dict[str, Tensor]:
        """Split a flat ``[..., n_params]`` vector into the named parameter shapes."""
        sizes = [int(torch.Size(self.shapes[n]).numel()) for n in self.names]
        parts = flat.split(sizes, dim=-1)
        lead = flat.shape[:-1]
        return {
            n: p.reshape(*lead, *self.shapes[n]) for n, p in zip(self.names, parts, strict=True)
        }

    @torch.no_grad()
    def renormalise(self) -> None:
        """Scale each ``V_out[k]`` to unit norm over the whole group (its cores carry the scale)."""
        norms = self.dense("out").norm(dim=1).clamp_min(1e-12)
        for tucker in self.v_out:
            tucker.core.div_(norms.view(-1, *([1] * (tucker.core.ndim - 1))))
