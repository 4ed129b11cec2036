"""Ground-truth checks for the toy reproductions.

- :func:`feature_impacts`: mean impact of each subnetwork on samples with exactly one active
  feature, ``[n_features, n_subnetworks]``; its row-wise argmax assigns a subnetwork to each
  feature, and :func:`purity` says how exclusively each subnetwork serves one feature.
- :func:`tms_alignment`: TMS, where feature i's gradient in W is the rank-1 ``W[:, i] e_i^T``:
  ``|cos|`` between each subnetwork's W part and each of those.
- :func:`recovered_map`: circuit superposition. Column i of ``A_hat`` is the output direction
  (top left singular vector of the ``W2`` part) of the subnetwork assigned to feature i.
  Subnetwork directions carry no sign or scale, so :func:`r_squared` fits one scale per column
  before comparing: ``1 - SS_res / SS_tot`` over all entries.

Example:
    >>> import torch
    >>> truth = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> r_squared(torch.tensor([[-2.0, 0.0], [0.0, 0.5]]), truth)
    1.0
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from mechcirc.analyses.l3d.subnetworks import Subnetworks


def feature_impacts(
    inputs: Float[Tensor, "n n_features"], impact: Float[Tensor, "n n_subnetworks"]
) -> Float[Tensor, "n_features n_subnetworks"]:
    """Mean impact per subnetwork over the samples whose only active feature is i (NaN if none)."""
    active = inputs != 0
    single = active.sum(1) == 1
    feature = active.float().argmax(1)
    rows = []
    for i in range(inputs.shape[1]):
        chosen = single & (feature == i)
        rows.append(
            impact[chosen].mean(0) if chosen.any() else torch.full_like(impact[0], torch.nan)
        )
    return torch.stack(rows)


def purity(table: Float[Tensor, "n_features n_subnetworks"]) -> Float[Tensor, " n_subnetworks"]:
    """For each subnetwork, its largest feature's share of its impact on single-feature samples."""
    table = table.nan_to_num(0.0)
    return table.max(0).values / table.sum(0).clamp_min(1e-30)


def tms_alignment(
    model: nn.Module, subnetworks: Subnetworks
) -> Float[Tensor, "n_subnetworks n_features"]:
    """``|cos|`` of each subnetwork's ``W`` part with each feature direction ``W[:, i] e_i^T``."""
    W = model.W.detach()
    n_features = W.shape[1]
    features = torch.stack(
        [torch.outer(W[:, i], torch.eye(n_features)[i]) for i in range(n_features)]
    )
    learned = subnetworks.unflatten(subnetworks.dense("out").detach())["W"]
    unit = torch.nn.functional.normalize
    return (unit(learned.flatten(1), dim=1) @ unit(features.flatten(1), dim=1).T).abs()


def r_squared(estimate: Float[Tensor, "d n"], truth: Float[Tensor, "d n"]) -> float:
    """``1 - SS_res / SS_tot`` after scaling each column of ``estimate`` by least squares."""
    scale = (estimate * truth).sum(0) / (estimate**2).sum(0).clamp_min(1e-30)
    residual = ((truth - scale * estimate) ** 2).sum()
    total = ((truth - truth.mean()) ** 2).sum()
    return float(1 - residual / total)


def recovered_map(
    subnetworks: Subnetworks, table: Float[Tensor, "n_features n_subnetworks"], output: str = "W2"
) -> Float[Tensor, "d_out n_features"]:
    """``A_hat``: per feature, the output direction of its highest-impact subnetwork."""
    parts = subnetworks.unflatten(subnetworks.dense("out").detach())[output]
    assigned = table.nan_to_num(-1.0).argmax(1)
    return torch.stack([torch.linalg.svd(parts[k])[0][:, 0] for k in assigned], dim=1)


@torch.no_grad()
def toy_summary(
    name: str,
    model: nn.Module,
    subnetworks: Subnetworks,
    inputs: Float[Tensor, "n n_features"],
    impact: Float[Tensor, "n n_subnetworks"],
) -> dict:
    """The ground-truth comparisons that apply to toy ``name`` (JSON-ready)."""
    table = feature_impacts(inputs, impact)
    summary = {
        "feature_to_subnetwork": table.nan_to_num(-1.0).argmax(1).tolist(),
        "subnetwork_purity": [round(float(p), 4) for p in purity(table)],
    }
    if name == "tms":
        cos = tms_alignment(model, subnetworks)
        summary["tms_best_cos_per_subnetwork"] = [round(float(c), 4) for c in cos.max(1).values]
        summary["tms_min_best_cos"] = float(cos.max(1).values.min())
    if name == "circuit-superposition":
        a_hat = recovered_map(subnetworks, table)
        n = model.A.shape[1]
        implemented = (model(torch.eye(n)) - model(torch.zeros(1, n))).T
        summary["A_r2"] = r_squared(a_hat, model.A)
        summary["A_r2_vs_implemented_map"] = r_squared(a_hat, implemented)
        summary["implemented_map_r2_vs_A"] = r_squared(implemented, model.A)
    return summary
