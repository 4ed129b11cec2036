"""Which subnetworks each sample uses: impact, activity, frequency and top-activating samples.

The impact of subnetwork k on sample x is ``I(x, v_k) = |V_in[k] . grad_W D(f(x), y_ref)|``
averaged over ``n_references`` random reference outputs (each from another sample of the set).
A sample is *active* for k when its impact is among the batch top-k (the same fraction the fit
kept), so activity, frequency (dead subnetworks have frequency 0) and interventions agree with
training.

Example:
    >>> import torch
    >>> impact = torch.tensor([[3.0, 0.0], [0.1, 2.0], [0.2, 0.0]])
    >>> activation_frequency(active_mask(impact, topk=1 / 3))
    tensor([0.3333, 0.3333])
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from mechcirc.analyses.l3d.gradients import batch_outputs, flat_gradients, reference_indices
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.training import batch_topk_mask


def take(inputs: Any, index: Tensor | slice) -> Any:
    """Rows of a tensor or of a dict of tensors (the two input kinds targets produce)."""
    if isinstance(inputs, dict):
        return {k: v[index] for k, v in inputs.items()}
    return inputs[index]


def count(inputs: Any) -> int:
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


@torch.no_grad()
def _all_outputs(target, inputs: Any, chunk: int) -> Tensor:
    values = target.group.values()
    n = count(inputs)
    return torch.cat(
        [
            batch_outputs(target, values, take(inputs, slice(i, i + chunk)))
            for i in range(0, n, chunk)
        ]
    )


@torch.no_grad()  # torch.func.grad still differentiates inside no_grad
def impacts(
    target,
    subnetworks: Subnetworks,
    inputs: Any,
    n_references: int = 4,
    seed: int = 0,
    chunk: int = 256,
) -> Float[Tensor, "n n_subnetworks"]:
    """Mean over ``n_references`` references of ``|V_in[k] . g(x, y_ref)|`` for every sample."""
    outputs = _all_outputs(target, inputs, chunk)
    v_in = subnetworks.dense("in").detach()
    generator = torch.Generator().manual_seed(seed)
    n = len(outputs)
    total = torch.zeros(n, subnetworks.n_subnetworks)
    for _ in range(n_references):
        references = outputs[reference_indices(n, generator)]
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            grads = flat_gradients(target, take(inputs, rows), references[rows])
            total[rows] += (grads @ v_in.T).abs().cpu()
    return total / n_references


def active_mask(
    impact: Float[Tensor, "n n_subnetworks"], topk: float
) -> Bool[Tensor, "n n_subnetworks"]:
    """Batch top-k of the impacts: the ``topk`` fraction of (sample, subnetwork) pairs."""
    return batch_topk_mask(impact, topk)


def activation_frequency(
    active: Bool[Tensor, "n n_subnetworks"],
) -> Float[Tensor, " n_subnetworks"]:
    """Fraction of samples on which each subnetwork is active (0 = dead)."""
    return active.float().mean(0)


def top_samples(
    target, inputs: Any, impact: Float[Tensor, "n n_subnetworks"], n_top: int = 10
) -> dict[str, list[dict]]:
    """For each subnetwork, its ``n_top`` highest-impact samples, described by the target."""
    result = {}
    for k in range(impact.shape[1]):
        values, rows = impact[:, k].topk(min(n_top, len(impact)))
        result[str(k)] = [
            {"index": int(r), "impact": float(v), **target.describe(inputs, int(r))}
            for v, r in zip(values, rows, strict=True)
        ]
    return result
