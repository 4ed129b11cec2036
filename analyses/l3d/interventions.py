"""Interventions: move the parameters along one subnetwork and measure who notices.

``W <- W + delta * V_out[k]`` (``V_out[k]`` has unit norm over the group, so ``delta`` is the
parameter-space distance moved). The output change of each sample is the target's divergence
between the perturbed and the original output (squared error for the toys, KL for language
models); the curve compares its mean over samples where k is active with its mean over the rest.

Example:
    >>> curves = intervention_curves(target, subnets, x, active, [0.1, 0.3])  # doctest: +SKIP
    >>> curves.columns.tolist()  # doctest: +SKIP
    ['subnetwork', 'delta', 'active', 'inactive', 'n_active', 'selectivity']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from torch.func import vmap

from mechcirc.analyses.l3d.gradients import batch_outputs, divergence_fn
from mechcirc.analyses.l3d.impact import count, take
from mechcirc.analyses.l3d.subnetworks import Subnetworks

DEFAULT_RELATIVE_DELTAS = (0.01, 0.03, 0.1, 0.3)


def default_deltas(target) -> list[float]:
    """Steps as fractions of the group's parameter norm (scale-free across models)."""
    norm = torch.sqrt(sum((v**2).sum() for v in target.group.values().values())).item()
    return [round(f * norm, 6) for f in DEFAULT_RELATIVE_DELTAS]


@torch.no_grad()
def output_change(
    target, subnetwork: Tensor, delta: float, inputs: Any, chunk: int = 256
) -> Float[Tensor, " n"]:
    """Per-sample divergence between outputs at ``W + delta * direction`` and at ``W``."""
    values = target.group.values()
    step = {name: values[name] + delta * part for name, part in subnetwork.items()}
    divergence = vmap(divergence_fn(target.divergence))
    changes = []
    for start in range(0, count(inputs), chunk):
        rows = take(inputs, slice(start, start + chunk))
        original = batch_outputs(target, values, rows)
        changes.append(divergence(batch_outputs(target, step, rows), original))
    return torch.cat(changes)


def intervention_curves(
    target,
    subnetworks: Subnetworks,
    inputs: Any,
    active: Bool[Tensor, "n n_subnetworks"],
    deltas: Sequence[float],
    subnetwork_ids: Sequence[int] | None = None,
):
    """A DataFrame: mean output change on active and inactive samples per subnetwork and delta."""
    import pandas as pd

    directions = subnetworks.unflatten(subnetworks.dense("out").detach())
    ids = range(subnetworks.n_subnetworks) if subnetwork_ids is None else subnetwork_ids
    rows = []
    for k in ids:
        direction = {name: part[k] for name, part in directions.items()}
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
