"""Subnetworks: ``n_v`` low-rank directions in parameter space, stored as Tucker factors.

Each subnetwork k has, for every parameter tensor of the group, a Tucker factorisation
``core[k] x_1 U1[k] x_2 U2[k] ...`` (a rank-1 matrix part is ``u v^T``; a vector part is any
vector). ``V_in`` (parameters -> subnetwork activations) and ``V_out`` (activations ->
parameters) are two such maps. ``V_out`` rows have unit norm over the whole group
(:meth:`Subnetworks.renormalise` after each optimiser step), so an activation is the size of
the subnetwork's share of a gradient and ``delta * V_out[k]`` moves the parameters by ``delta``.

Only the factors are stored: their size grows with the rank, not with ``n_v x n_params``.
:meth:`~Subnetworks.project` and :meth:`~Subnetworks.expand` apply the maps either from the
dense ``[n_v, n_params]`` matrices (``chunk=0``: fastest for small groups) or ``chunk``
subnetworks at a time, each chunk's dense rows rebuilt from the factors in the backward pass
(activation checkpointing), so no step ever holds more than ``chunk x n_params`` of them.

Example:
    >>> import torch
    >>> subnets = Subnetworks({"w": (4, 3), "b": (4,)}, n_subnetworks=2, ranks=1, seed=0)
    >>> subnets.dense("out").shape  # [n_subnetworks, 4*3 + 4]
    torch.Size([2, 16])
    >>> g = torch.randn(5, 16)
    >>> torch.allclose(subnets.project(g, chunk=1), g @ subnets.dense("in").T, atol=1e-6)
    True
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mechcirc.errors import UsageError

__all__ = ["Subnetworks", "TuckerMap"]

RankRule = int | Callable[[int], int] | Mapping[str, Sequence[int]]


def _tucker_einsum(ndim: int) -> str:
    """``"kab,kia,kjb->kij"`` for a 2-D tensor: core then one factor per mode, batched over k."""
    ranks = string.ascii_lowercase[:ndim]
    dims = string.ascii_lowercase[ndim : 2 * ndim]
    factors = ",".join(f"k{d}{r}" for d, r in zip(dims, ranks, strict=True))
    return f"k{ranks},{factors}->k{dims}"


class TuckerMap(nn.Module):
    """``n`` Tucker-factored tensors of one shape: ``core [n, r...]`` and ``U_m [n, d_m, r_m]``."""

    def __init__(
        self, shape: tuple[int, ...], n: int, ranks: list[int], generator: torch.Generator
    ):
        super().__init__()
        self.shape = tuple(shape)
        self.core = nn.Parameter(torch.randn(n, *ranks, generator=generator))
        self.factors = nn.ParameterList(
            nn.Parameter(torch.randn(n, d, r, generator=generator) / d**0.5)
            for d, r in zip(self.shape, ranks, strict=True)
        )
        self._equation = _tucker_einsum(len(self.shape))

    def dense(self, rows: slice = slice(None)) -> Float[Tensor, "n ..."]:
        """The tensors of subnetworks ``rows`` (all by default), ``[n_rows, *shape]``."""
        if not self.shape:  # a scalar parameter: the core is the value
            return self.core[rows]
        return torch.einsum(self._equation, self.core[rows], *(f[rows] for f in self.factors))

    def n_factor_values(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _mode_ranks(shapes: dict[str, tuple[int, ...]], ranks: RankRule) -> dict[str, list[int]]:
    if isinstance(ranks, Mapping):
        found = {name: [int(r) for r in ranks[name]] for name in shapes if name in ranks}
        if set(found) != set(shapes) or any(len(found[n]) != len(shapes[n]) for n in shapes):
            raise UsageError(f"ranks {dict(ranks)} do not match the shapes {shapes}")
        return found
    rule = ranks if callable(ranks) else (lambda size: min(size, ranks))
    return {name: [rule(d) for d in shape] for name, shape in shapes.items()}


class Subnetworks(nn.Module):
    """``V_in`` and ``V_out`` of ``n_subnetworks`` Tucker-factored directions over named tensors.

    Args:
        shapes: the group's parameter shapes by name.
        ranks: a rank for every mode (capped by the mode's size), a function of the mode's
            size (``L3DConfig.mode_rank``), or the ranks of every tensor by name.
    """

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        n_subnetworks: int,
        ranks: RankRule = 1,
        seed: int = 0,
    ):
        super().__init__()
        if n_subnetworks < 1:
            raise UsageError(f"n_subnetworks must be >= 1, got {n_subnetworks}")
        if not shapes:
            raise UsageError("no parameters to decompose: the parameter group is empty")
        self.names = list(shapes)
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        self.n_subnetworks = n_subnetworks
        self.ranks = _mode_ranks(self.shapes, ranks)
        if any(r < 1 for ranks_ in self.ranks.values() for r in ranks_):
            raise UsageError(f"Tucker ranks must be >= 1, got {self.ranks}")
        generator = torch.Generator().manual_seed(seed)
        # nn.ModuleDict keys may not contain dots: index tensors by position.
        self.v_out = nn.ModuleList(self._map(n, generator) for n in self.names)
        self.v_in = nn.ModuleList(self._map(n, generator) for n in self.names)
        self.renormalise()
        with torch.no_grad():  # start from V_in = V_out (a projection), as the authors do
            for source, target in zip(self.v_out.parameters(), self.v_in.parameters(), strict=True):
                target.copy_(source)

    def _map(self, name: str, generator: torch.Generator) -> TuckerMap:
        return TuckerMap(self.shapes[name], self.n_subnetworks, self.ranks[name], generator)

    @property
    def n_params(self) -> int:
        return sum(int(torch.Size(s).numel()) for s in self.shapes.values())

    def _maps(self, which: str) -> nn.ModuleList:
        if which not in ("in", "out"):
            raise UsageError(f"which must be 'in' or 'out', got {which!r}")
        return self.v_in if which == "in" else self.v_out

    def dense(self, which: str, rows: slice = slice(None)) -> Float[Tensor, "rows n_params"]:
        """``V_in`` or ``V_out`` rows as a dense ``[n_rows, n_params]`` matrix (names' order)."""
        parts = [m.dense(rows) for m in self._maps(which)]
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], dim=1)

    def _chunks(self, chunk: int) -> list[slice]:
        step = chunk if chunk > 0 else self.n_subnetworks
        return [slice(i, i + step) for i in range(0, self.n_subnetworks, step)]

    def project(
        self, gradients: Float[Tensor, "batch n_params"], which: str = "in", chunk: int = 0
    ) -> Float[Tensor, "batch n_subnetworks"]:
        """``gradients @ V^T``: each subnetwork's activation (its dot product with each row)."""
        if chunk <= 0:
            return gradients @ self.dense(which).T

        def part(rows: slice) -> Tensor:
            return checkpoint(
                lambda g: g @ self.dense(which, rows).T, gradients, use_reentrant=False
            )

        return torch.cat([part(rows) for rows in self._chunks(chunk)], dim=1)

    def expand(
        self, coefficients: Float[Tensor, "batch n_subnetworks"], which: str = "out", chunk: int = 0
    ) -> Float[Tensor, "batch n_params"]:
        """``coefficients @ V``: the parameter-space vector each row of coefficients describes."""
        if chunk <= 0:
            return coefficients @ self.dense(which)
        total = None
        for rows in self._chunks(chunk):
            term = checkpoint(
                lambda c, rows=rows: c[:, rows] @ self.dense(which, rows),
                coefficients,
                use_reentrant=False,
            )
            total = term if total is None else total + term
        return total

    def direction(self, k: int, which: str = "out") -> dict[str, Tensor]:
        """Subnetwork ``k`` as tensors by parameter name (detached)."""
        rows = slice(k, k + 1)
        return {
            n: m.dense(rows)[0].detach() for n, m in zip(self.names, self._maps(which), strict=True)
        }

    def unflatten(self, flat: Float[Tensor, "... n_params"]) -> dict[str, Tensor]:
        """Split a flat ``[..., n_params]`` vector into the named parameter shapes."""
        sizes = [int(torch.Size(self.shapes[n]).numel()) for n in self.names]
        parts = flat.split(sizes, dim=-1)
        lead = flat.shape[:-1]
        return {
            n: p.reshape(*lead, *self.shapes[n]) for n, p in zip(self.names, parts, strict=True)
        }

    @torch.no_grad()
    def norms(self, which: str = "out", chunk: int = 0) -> Float[Tensor, " n_subnetworks"]:
        """Each subnetwork's norm over the whole group."""
        return torch.cat([self.dense(which, rows).norm(dim=1) for rows in self._chunks(chunk)])

    @torch.no_grad()
    def renormalise(self, chunk: int = 0) -> None:
        """Scale each ``V_out[k]`` to unit norm over the whole group (its cores carry the scale)."""
        norms = self.norms("out", chunk).clamp_min(1e-12)
        for tucker in self.v_out:
            tucker.core.div_(norms.view(-1, *([1] * (tucker.core.ndim - 1))))

    def n_factor_values(self) -> int:
        """Stored numbers (both maps): what memory and the saved file grow with."""
        return sum(m.n_factor_values() for m in (*self.v_in, *self.v_out))
