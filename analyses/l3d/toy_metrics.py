"""Ground-truth checks for the toy reproductions.

- :func:`feature_impacts`: mean impact of each subnetwork on samples whose active features all
  belong to one group (a single feature for ungrouped toys), ``[n_groups, n_subnetworks]``; its
  row-wise argmax assigns a subnetwork to each group, and :func:`purity` says how exclusively
  each subnetwork serves one group.
- :func:`tms_alignment`: TMS, where feature i's gradient in the encoder is about ``e_i W[i]``:
  ``|cos|`` between each subnetwork's encoder part and each of those.
- :func:`recovered_map`: circuit superposition, the authors' way: subnetwork k's map
  ``P_k = W_in[k] W_out[k]`` (sign-free: flipping the subnetwork flips both factors), its feature
  ``i* = argmax_i sum_j |P_k[i, j]|``, and ``a_hat = P_k[i*]`` against ``A[i*]``. Their notebook
  prints the Pearson correlation of all ``(a, a_hat)`` pairs and labels it r²; both are given.

Example:
    >>> import torch
    >>> table = torch.tensor([[2.0, 0.1], [0.0, 1.0]])
    >>> purity(table)
    tensor([1.0000, 0.9091])
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.toys import ToySpec

__all__ = ["feature_impacts", "purity", "recovered_map", "tms_alignment", "toy_summary"]


def feature_impacts(
    inputs: Float[Tensor, "n n_features"],
    impact: Float[Tensor, "n n_subnetworks"],
    group_size: int = 1,
) -> Float[Tensor, "n_groups n_subnetworks"]:
    """Mean impact per subnetwork over samples whose only active group is g (NaN if none)."""
    active = (inputs != 0).view(len(inputs), -1, group_size).any(-1)
    single = active.sum(1) == 1
    group = active.float().argmax(1)
    rows = []
    for g in range(active.shape[1]):
        chosen = single & (group == g)
        rows.append(
            impact[chosen].mean(0) if chosen.any() else torch.full_like(impact[0], torch.nan)
        )
    return torch.stack(rows)


def purity(table: Float[Tensor, "n_groups n_subnetworks"]) -> Float[Tensor, " n_subnetworks"]:
    """For each subnetwork, its largest group's share of its impact on single-group samples."""
    table = table.nan_to_num(0.0)
    return table.max(0).values / table.sum(0).clamp_min(1e-30)


def tms_alignment(model: nn.Module, subnetworks: Subnetworks) -> Float[Tensor, "n_sub n_features"]:
    """``|cos|`` of each subnetwork's encoder part with each feature direction ``e_i W[i]``."""
    W = model.W.detach()  # [n_features, d_hidden]
    n_features = W.shape[0]
    features = torch.stack([torch.outer(torch.eye(n_features)[i], W[i]) for i in range(n_features)])
    name = "W_in" if "W_in" in subnetworks.names else "W"
    learned = subnetworks.unflatten(subnetworks.dense("out").detach())[name]
    unit = torch.nn.functional.normalize
    return (unit(learned.flatten(1), dim=1) @ unit(features.flatten(1), dim=1).T).abs()


def recovered_map(subnetworks: Subnetworks) -> tuple[list[int], Tensor]:
    """Per subnetwork: its feature ``i*`` and ``a_hat = P_k[i*]`` (``P_k = W_in[k] W_out[k]``)."""
    parts = subnetworks.unflatten(subnetworks.dense("out").detach())
    maps = parts["W_in"] @ parts["W_out"]  # [n_sub, n_in, n_out]
    features = maps.abs().sum(-1).argmax(-1)
    return features.tolist(), maps[torch.arange(len(maps)), features]


def _pearson(x: Tensor, y: Tensor) -> float:
    x, y = x.flatten() - x.mean(), y.flatten() - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-30))


def map_recovery(model: nn.Module, subnetworks: Subnetworks) -> dict:
    """How well the subnetworks recover ``A`` (circuit-superposition toys with ``W_in/W_out``)."""
    features, a_hat = recovered_map(subnetworks)
    truth = model.A[features]
    r = _pearson(a_hat, truth)
    return {
        "A_features": features,
        "A_features_distinct": len(set(features)),
        "A_r_pearson": r,
        "A_r2": r**2,
    }


@torch.no_grad()
def toy_summary(
    spec: ToySpec,
    model: nn.Module,
    subnetworks: Subnetworks,
    inputs: Float[Tensor, "n n_features"],
    impact: Float[Tensor, "n n_subnetworks"],
) -> dict:
    """The ground-truth comparisons that apply to toy ``spec`` (JSON-ready)."""
    table = feature_impacts(inputs, impact, spec.group_size)
    assigned = table.nan_to_num(-1.0).argmax(1)
    summary = {
        "group_to_subnetwork": assigned.tolist(),
        "groups_with_own_subnetwork": len(set(assigned.tolist())),
        "subnetwork_purity": [round(float(p), 4) for p in purity(table)],
    }
    if spec.name.startswith("tms"):
        cos = tms_alignment(model, subnetworks).max(1).values
        summary["tms_best_cos_per_subnetwork"] = [round(float(c), 4) for c in cos]
        summary["tms_min_best_cos"] = float(cos.min())
    if "W_in" in subnetworks.names and hasattr(model, "A"):
        summary.update(map_recovery(model, subnetworks))
    return summary
