"""Held-out reconstruction loss and which subnetworks each sample uses.

The impact of subnetwork k on sample x is ``I(x, v_k) = |V_in[k] . grad_W D(f(x), y_ref)|``
averaged over ``n_references`` random reference outputs (each from another sample of the same
chunk of ``batch_size`` inputs, as in training). The held-out loss reuses the first reference's
gradients: batch top-k per chunk, residual and gradient energy summed over the whole set. A
sample is *active* for k when its impact is among the top-k of the set (the same fraction the fit
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
from tqdm.auto import tqdm

from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.gradients import flat_gradients, reference_outputs
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.targets import count, take
from mechcirc.analyses.l3d.training import batch_topk_mask

__all__ = ["activation_frequency", "active_mask", "impacts_and_loss", "top_samples"]


class _LossSums:
    """Residual and gradient energy accumulated over chunks (or per-sample ratios)."""

    def __init__(self, normalisation: str):
        self.normalisation = normalisation
        self.residual, self.energy, self.ratios = 0.0, 0.0, []

    def add(self, grads: Tensor, reconstruction: Tensor) -> None:
        residual = ((grads - reconstruction) ** 2).sum(-1)
        energy = (grads**2).sum(-1)
        self.residual += float(residual.sum())
        self.energy += float(energy.sum())
        nonzero = energy > 0
        self.ratios.append((residual[nonzero] / energy[nonzero]).cpu())

    def value(self) -> float:
        if self.normalisation == "batch":
            return self.residual / max(self.energy, 1e-30)
        return float(torch.cat(self.ratios).mean())


@torch.no_grad()  # torch.func.grad still differentiates inside no_grad
def impacts_and_loss(
    target,
    subnetworks: Subnetworks,
    inputs: Any,
    config: L3DConfig,
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Float[Tensor, "n_samples n_subnetworks"], float]:
    """Impacts averaged over ``config.n_references`` references, and the held-out loss."""
    generator = torch.Generator().manual_seed(seed)
    n_units, chunk = count(inputs), config.batch_size
    chunks = [slice(i, i + chunk) for i in range(0, n_units, chunk)]
    offsets = [0]
    for rows in chunks:
        offsets.append(offsets[-1] + target.n_samples(take(inputs, rows)))
    total = torch.zeros(offsets[-1], subnetworks.n_subnetworks)
    sums = _LossSums(config.loss_normalisation)
    steps = [(r, i) for r in range(config.n_references) for i in range(len(chunks))]
    for r, i in tqdm(steps, desc="L3D impacts", disable=not progress):
        part = take(inputs, chunks[i])
        grads = flat_gradients(target, part, reference_outputs(target, part, generator))
        activations = subnetworks.project(grads, "in", config.subnetwork_chunk)
        total[offsets[i] : offsets[i + 1]] += activations.abs().cpu()
        if r == 0:
            mask = batch_topk_mask(activations, config.topk)
            sums.add(grads, subnetworks.expand(activations * mask, "out", config.subnetwork_chunk))
    return total / config.n_references, sums.value()


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
    """For each subnetwork, its ``n_top`` highest-impact samples, described by the target.

    For texts, each text appears at most once per subnetwork (at its highest-impact position),
    as in the paper's tables.
    """
    result = {}
    for k in range(impact.shape[1]):
        chosen, seen = [], set()
        for index in impact[:, k].argsort(descending=True).tolist():
            described = target.describe(inputs, index)
            key = described.get("row", index)
            if key in seen:
                continue
            seen.add(key)
            chosen.append({"index": index, "impact": float(impact[index, k]), **described})
            if len(chosen) == n_top:
                break
        result[str(k)] = chosen
    return result
