"""Fitting subnetworks to per-sample gradients: batch top-k, normalised loss, AdamW with step decay.

One step: ``a = g V_in^T`` (activations), keep the top ``topk`` fraction of ``|a|`` over the whole
batch (batch top-k: a sample may use several subnetworks or none), ``g_hat = mask(a) V_out``, loss
``||g - g_hat||^2 / ||g||^2``, an AdamW step on the Tucker factors, then ``V_out`` rows
renormalised. ``loss_normalisation="batch"`` divides the batch's summed residual by its summed
gradient energy (the fraction of gradient energy left unexplained, as the authors' code does),
``"sample"`` averages the per-sample ratios (samples with ``||g|| = 0`` skipped).

Batches come from ``gradient_batch(step)``, which must be a pure function of the step (seed it
from the step) so a resumed fit sees the same data as an uninterrupted one.

Example:
    >>> import torch
    >>> from mechcirc.analyses.l3d.config import L3DConfig
    >>> from mechcirc.analyses.l3d.subnetworks import Subnetworks
    >>> subnets = Subnetworks({"w": (3, 2)}, n_subnetworks=2)
    >>> config = L3DConfig(steps=5, n_subnetworks=2)
    >>> fit(lambda step: torch.randn(16, 6), subnets, config, progress=False).step
    5
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.subnetworks import Subnetworks

__all__ = [
    "L3DState",
    "batch_topk_mask",
    "fit",
    "new_state",
    "reconstruct",
    "reconstruction_loss",
]

log = logging.getLogger(__name__)

GradientBatch = Callable[[int], Float[Tensor, "batch n_params"]]


def batch_topk_mask(
    activations: Float[Tensor, "*members batch n_subnetworks"], fraction: float
) -> Bool[Tensor, "*members batch n_subnetworks"]:
    """True for the ``fraction`` largest ``|activations|`` of the whole batch (at least one);
    leading dimensions (stacked decompositions) are separate batches."""
    n_keep = max(1, round(fraction * activations.shape[-2] * activations.shape[-1]))
    flat = activations.detach().abs().flatten(-2)
    kept = flat.topk(n_keep, dim=-1).indices
    return torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, kept, True).view_as(activations)


def reconstruction_loss(
    gradients: Float[Tensor, "*members batch n_params"],
    reconstruction: Float[Tensor, "*members batch n_params"],
    normalisation: str = "batch",
) -> Float[Tensor, "*members"]:
    """``||g - g_hat||^2 / ||g||^2``, over the batch (``"batch"``) or averaged per sample."""
    # vector norms, not squared copies: a [batch, n_params] temporary less (large blocks)
    residual = torch.linalg.vector_norm(gradients - reconstruction, dim=-1) ** 2
    energy = torch.linalg.vector_norm(gradients, dim=-1) ** 2
    if normalisation == "batch":
        return residual.sum(-1) / energy.sum(-1).clamp_min(1e-30)
    nonzero = energy > 0
    ratios = torch.where(nonzero, residual / energy.clamp_min(1e-30), 0.0)
    return ratios.sum(-1) / nonzero.sum(-1)


def reconstruct(
    subnetworks: Subnetworks,
    gradients: Float[Tensor, "*members batch n_params"],
    topk: float,
    chunk: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Activations, their batch top-k mask, and the reconstructed gradients (``subnetworks``
    may be a :class:`~.members.SubnetworkStack` with gradients ``[n_members, batch, n_params]``)."""
    activations = subnetworks.project(gradients, "in", chunk)
    mask = batch_topk_mask(activations, topk)
    return activations, mask, subnetworks.expand(activations * mask, "out", chunk)


@dataclass
class L3DState:
    """Everything a fit needs to continue: subnetworks, optimiser, step and the metrics log."""

    subnetworks: Subnetworks
    optimizer: torch.optim.Optimizer
    step: int = 0
    log: list[dict] = field(default_factory=list)


def new_state(subnetworks: Subnetworks, config: L3DConfig) -> L3DState:
    optimizer = torch.optim.AdamW(
        subnetworks.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    return L3DState(subnetworks, optimizer)


def _train_step(state: L3DState, gradients: Tensor, config: L3DConfig) -> dict:
    for group in state.optimizer.param_groups:
        group["lr"] = config.learning_rate(state.step)
    chunk = config.subnetwork_chunk
    _, mask, reconstruction = reconstruct(
        state.subnetworks, gradients, config.topk_at(state.step), chunk
    )
    losses = reconstruction_loss(gradients, reconstruction, config.loss_normalisation)
    state.optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()  # stacked decompositions: a sum of independent losses
    state.optimizer.step()
    state.subnetworks.renormalise(chunk)
    state.step += 1
    return {"loss": losses.detach(), "active_per_subnetwork": mask.sum(-2)}


def fit(
    gradient_batch: GradientBatch,
    subnetworks: Subnetworks,
    config: L3DConfig,
    state: L3DState | None = None,
    *,
    on_checkpoint: Callable[[L3DState], None] | None = None,
    progress: bool = True,
) -> L3DState:
    """Train ``subnetworks`` on ``gradient_batch(step)`` to ``config.steps``; resumes ``state``.

    ``on_checkpoint(state)`` is called every ``config.checkpoint_every`` steps.
    """
    state = state or new_state(subnetworks, config)
    window = _Window()
    bar = tqdm(total=config.steps, initial=state.step, desc="L3D", disable=not progress)
    while state.step < config.steps:
        stats = _train_step(state, gradient_batch(state.step), config)
        window.add(stats)
        bar.update(1)
        if state.step % config.log_every == 0 or state.step == config.steps:
            row = window.row(state.step, config)
            state.log.append(row)
            bar.set_postfix(loss=_rounded(row["loss"]), dead=row["dead_subnetworks"])
        if on_checkpoint and state.step % config.checkpoint_every == 0:
            on_checkpoint(state)
    bar.close()
    return state


def _rounded(value: float | list[float]) -> float | list[float]:
    return [round(v, 4) for v in value] if isinstance(value, list) else round(value, 4)


class _Window:
    """Loss and activity summed since the last log row (per member for a stack: the row's
    ``loss`` and ``dead_subnetworks`` are then lists)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.loss, self.active, self.n = 0.0, 0, 0

    def add(self, stats: dict) -> None:
        self.loss = self.loss + stats["loss"].double()
        self.active = self.active + stats["active_per_subnetwork"].cpu()
        self.n += 1

    def row(self, step: int, config: L3DConfig) -> dict:
        row = {
            "step": step,
            "loss": (self.loss / self.n).tolist(),
            "lr": config.learning_rate(step - 1),
            "dead_subnetworks": (self.active == 0).sum(-1).tolist(),
        }
        log.info("step %d loss %s dead %s", step, _rounded(row["loss"]), row["dead_subnetworks"])
        self.reset()
        return row
