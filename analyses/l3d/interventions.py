"""Interventions: move the parameters along subnetworks and measure who notices.

``W <- W + sum_j delta_j * V_out[k_j]`` (``V_out[k]`` has unit norm over the group, so ``delta``
is the parameter-space distance moved). :func:`output_change` gives each sample's divergence
between the perturbed and the original output (squared error for the toys, KL for language
models); :func:`intervention_curves` compares its mean over samples where a subnetwork is
active with its mean over the rest. The paper's variants: larger deltas, a direction restricted
to some parameters (``only=``, e.g. the hidden layers) and two subnetworks at once
(:func:`perturbed_outputs` with two ``(subnetwork, delta)`` moves).

Example:
    >>> curves = intervention_curves(target, subnets, x, active, [0.1, 0.3])  # doctest: +SKIP
    >>> curves.columns.tolist()  # doctest: +SKIP
    ['subnetwork', 'delta', 'active', 'inactive', 'n_active', 'selectivity']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from torch.func import vmap

from mechcirc.analyses.l3d.gradients import divergence_fn
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.targets import count, take
from mechcirc.errors import UsageError

__all__ = [
    "default_deltas",
    "intervention_curves",
    "output_change",
    "perturbed_outputs",
    "restrict",
]

DEFAULT_RELATIVE_DELTAS = (0.01, 0.03, 0.1, 0.3)


def default_deltas(target) -> list[float]:
    """Steps as fractions of the group's parameter norm (scale-free across models)."""
    norm = torch.sqrt(sum((v**2).sum() for v in target.group.values().values())).item()
    return [round(f * norm, 6) for f in DEFAULT_RELATIVE_DELTAS]


def restrict(direction: dict[str, Tensor], only: str | None) -> dict[str, Tensor]:
    """``direction`` with every tensor not matching the pattern(s) ``only`` set to zero."""
    if only is None:
        return direction
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    kept = {n: any(fnmatchcase(n, p) for p in patterns) for n in direction}
    if not any(kept.values()):
        raise UsageError(f"no parameter matches {only!r}; names: {', '.join(direction)}")
    return {n: t if kept[n] else torch.zeros_like(t) for n, t in direction.items()}


def _shifted(target, moves: Iterable[tuple[dict[str, Tensor], float]]) -> dict[str, Tensor]:
    values = dict(target.group.values())
    for direction, delta in moves:
        for name, part in direction.items():
            values[name] = values[name] + delta * part.to(values[name].device)
    return values


@torch.no_grad()
def perturbed_outputs(
    target,
    subnetworks: Subnetworks,
    moves: Sequence[tuple[int, float]],
    inputs: Any,
    *,
    only: str | None = None,
    chunk: int = 256,
) -> Float[Tensor, "n_samples d_out"]:
    """Outputs after moving along each ``(subnetwork, delta)`` of ``moves`` (all at once)."""
    shifts = [(restrict(subnetworks.direction(k), only), delta) for k, delta in moves]
    values = _shifted(target, shifts)
    return torch.cat(
        [
            target.outputs(values, take(inputs, slice(i, i + chunk)))
            for i in range(0, count(inputs), chunk)
        ]
    )


@torch.no_grad()
def output_change(
    target,
    direction: dict[str, Tensor],
    delta: float,
    inputs: Any,
    chunk: int = 256,
) -> Float[Tensor, " n_samples"]:
    """Per-sample divergence between outputs at ``W + delta * direction`` and at ``W``."""
    values = target.group.values()
    step = _shifted(target, [(direction, delta)])
    divergence = vmap(divergence_fn("kl" if target.divergence == "kl" else "mse"))
    changes = []
    for start in range(0, count(inputs), chunk):
        rows = take(inputs, slice(start, start + chunk))
        original = target.outputs(values, rows)
        changes.append(divergence(target.outputs(step, rows), original).cpu())
    return torch.cat(changes)


def intervention_curves(
    target,
    subnetworks: Subnetworks,
    inputs: Any,
    active: Bool[Tensor, "n_samples n_subnetworks"],
    deltas: Sequence[float],
    subnetwork_ids: Sequence[int] | None = None,
    *,
    only: str | None = None,
):
    """A DataFrame: mean output change on active and inactive samples per subnetwork and delta."""
    import pandas as pd

    ids = range(subnetworks.n_subnetworks) if subnetwork_ids is None else subnetwork_ids
    rows = []
    for k in ids:
        direction = restrict(subnetworks.direction(k), only)
        on = active[:, k]
        for delta in deltas:
            change = output_change(target, direction, delta, inputs)
            mean_on = change[on].mean().item() if on.any() else float("nan")
            mean_off = change[~on].mean().item() if (~on).any() else float("nan")
            rows.append(
                {
                    "subnetwork": int(k),
                    "delta": float(delta),
                    "active": mean_on,
                    "inactive": mean_off,
                    "n_active": int(on.sum()),
                    "selectivity": mean_on / mean_off if mean_off > 0 else float("nan"),
                }
            )
    return pd.DataFrame(rows)
