"""Measures of the curriculum model's circuits (Odonnat et al., Figs. 2, 3, 4 and 7).

- :func:`zero_attention_share` (Fig. 3, "counting zeros"): per input, the share of the query's
  attention on the first ``k`` positions that lands on the zero tokens there; compared with the
  share of zeros among those tokens (what uniform attention over the first ``k`` would give).
- :func:`count_code`: does z_A encode the number of zeros among the first ``k`` tokens (for
  p = 2 that is ``k - sum``, the sum mod ``k + 1``)? The share of z_A's variance the count
  explains (:func:`cluster_eta2`) and the accuracy of a nearest-centroid read-out of the count
  fitted on one set of inputs and scored on another.
- :func:`update_signs` (Fig. 2): from the attention of one fixed sequence recorded after every
  mini-batch update, the sign of each edge's last change, and per position the share of updates
  that increased it.
- :func:`trajectory_pca` (Fig. 7): parameter snapshots of several runs embedded jointly in 2-D.

Example:
    >>> import torch
    >>> tokens = torch.tensor([[0, 1, 0, 1, 1, 0]])
    >>> pattern = torch.tensor([[0.3, 0.1, 0.3, 0.1, 0.1, 0.1]])
    >>> round(float(zero_attention_share(pattern, tokens, k=5)[0]), 4)   # 0.6 of 0.9
    0.6667
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.errors import UsageError

__all__ = [
    "cluster_eta2",
    "count_code",
    "nearest_centroid_accuracy",
    "trajectory_pca",
    "update_signs",
    "zero_attention_share",
    "zero_counts",
]


def zero_counts(tokens: Int[Tensor, "n seq"], k: int) -> Int[Tensor, " n"]:
    """Number of zero tokens among the first ``k`` of each sequence."""
    return (tokens[:, :k] == 0).sum(1)


def zero_attention_share(
    pattern: Float[Tensor, "n seq"], tokens: Int[Tensor, "n seq"], k: int
) -> Float[Tensor, " n"]:
    """Per input: attention on the zeros among the first ``k`` / attention on the first ``k``.

    Inputs without a zero among the first ``k`` give NaN (nothing to count).
    """
    if pattern.shape != tokens.shape or not 1 <= k <= tokens.shape[1]:
        raise UsageError(
            f"need pattern and tokens of one shape [n, seq] and 1 <= k <= seq, got "
            f"{tuple(pattern.shape)}, {tuple(tokens.shape)}, k={k}"
        )
    first = pattern[:, :k]
    on_zeros = (first * (tokens[:, :k] == 0)).sum(1)
    share = on_zeros / first.sum(1)
    return torch.where(zero_counts(tokens, k) > 0, share, torch.nan)


def cluster_eta2(points: Float[Tensor, "n d"], labels: Int[Tensor, " n"]) -> float:
    """Correlation ratio: the share of the points' variance explained by their label's mean.

    1 when every label's points coincide (one tight cluster per label), 0 when the label means
    are all equal.

    Example:
        >>> cluster_eta2(torch.tensor([[0.0], [0.0], [2.0], [2.0]]), torch.tensor([0, 0, 1, 1]))
        1.0
    """
    centred = points - points.mean(0)
    total = centred.pow(2).sum()
    within = sum(
        (points[labels == label] - points[labels == label].mean(0)).pow(2).sum()
        for label in labels.unique()
    )
    return float(1 - within / total)


def nearest_centroid_accuracy(
    fit_points: Float[Tensor, "n d"],
    fit_labels: Int[Tensor, " n"],
    points: Float[Tensor, "m d"],
    labels: Int[Tensor, " m"],
) -> float:
    """Accuracy on ``(points, labels)`` of the nearest label centroid fitted on ``fit_*``."""
    classes = fit_labels.unique()
    centroids = torch.stack([fit_points[fit_labels == c].mean(0) for c in classes])
    predicted = classes[torch.cdist(points, centroids).argmin(1)]
    return float((predicted == labels).float().mean())


def count_code(
    z_fit: Float[Tensor, "n d"],
    tokens_fit: Int[Tensor, "n seq"],
    z: Float[Tensor, "m d"],
    tokens: Int[Tensor, "m seq"],
    k: int,
) -> dict[str, float]:
    """How well z_A encodes the number of zeros among the first ``k`` tokens.

    ``eta2_count``: share of z_A's variance (on ``z``) explained by the count;
    ``count_readout_acc``: nearest-centroid read-out of the count, fitted on ``z_fit``;
    ``chance``: the most frequent count's share (the read-out's floor).
    """
    counts = zero_counts(tokens, k)
    fit_counts = zero_counts(tokens_fit, k)
    return {
        "eta2_count": cluster_eta2(z, counts),
        "count_readout_acc": nearest_centroid_accuracy(z_fit, fit_counts, z, counts),
        "chance": float(counts.bincount().max() / len(counts)),
    }


def update_signs(trace: Float[Tensor, "steps seq"]) -> tuple[Tensor, Float[Tensor, " seq"]]:
    """Sign of each edge's last change (+1 grew, -1 shrank, 0 equal) per recorded step after
    the first, and per position the share of updates that increased it."""
    change = trace[1:] - trace[:-1]
    signs = torch.sign(change)
    return signs, (signs > 0).float().mean(0)


def trajectory_pca(
    snapshots: Mapping[str, Float[Tensor, "steps params"]],
) -> tuple[dict[str, Float[Tensor, "steps 2"]], Float[Tensor, " 2"]]:
    """Joint 2-D PCA of several runs' flattened parameters: each run's coordinates and the
    share of the (pooled, centred) variance the two components explain."""
    stacked = torch.cat(list(snapshots.values())).double()
    centred = stacked - stacked.mean(0)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:2].T
    explained = singular.pow(2)[:2] / singular.pow(2).sum()
    coordinates, start = {}, 0
    for name, run in snapshots.items():
        coordinates[name] = (centred[start : start + len(run)] @ components).float()
        start += len(run)
    return coordinates, explained.float()
