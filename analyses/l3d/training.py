"""Fitting subnetworks to per-sample gradients: batch top-k, normalised loss, Adam with step decay.

One step: ``a = g V_in^T`` (activations), keep the top ``topk`` fraction of ``|a|`` over the whole
batch (batch top-k: a sample may use several subnetworks or none), ``g_hat = mask(a) V_out``, loss
``||g - g_hat||^2 / ||g||^2``, an Adam step on the Tucker factors, then ``V_out`` rows
renormalised. ``loss_normalisation="batch"`` divides the batch's summed residual by its summed
gradient energy (the fraction of gradient energy left unexplained; zero-gradient samples are
harmless), ``"sample"`` averages the per-sample ratios (samples with ``||g|| = 0`` skipped).

Batches come from ``gradient_batch(step)``, which must be a pure function of the step (seed it
from the step) so a resumed fit sees the same data as an uninterrupted one.

Example:
    >>> import torch
    >>> from mechcirc.analyses.l3d.subnetworks import Subnetworks
    >>> subnets = Subnetworks({"w": (3, 2)}, n_subnetworks=2)
    >>> state = fit(lambda step: torch.randn(16, 6), subnets, L3DConfig(steps=5, n_subnetworks=2))
    >>> state.step
    5
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.errors import UsageError

log = logging.getLogger(__name__)

GradientBatch = Callable[[int], Float[Tensor, "batch n_params"]]


@dataclass
class L3DConfig:
    """Hyper-parameters of one decomposition (feeds the CLI, the manifest and the checkpoint)."""

    n_subnetworks: int = 10
    rank: int = 1
    topk: float = 0.1  # fraction of the batch's activations kept
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    lr_decay: float = 0.5  # multiply the learning rate by this ...
    lr_decay_every: int = 0  # ... every this many steps (0: at 50% and 75% of the steps)
    loss_normalisation: Literal["batch", "sample"] = "batch"
    seed: int = 0
    log_every: int = 50

    def __post_init__(self) -> None:
        for name in ("n_subnetworks", "rank", "steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.topk <= 1:
            raise UsageError(f"topk is a fraction of activations in (0, 1], got {self.topk}")
        if self.loss_normalisation not in ("batch", "sample"):
            raise UsageError(
                f"loss_normalisation must be 'batch' or 'sample', got {self.loss_normalisation!r}"
            )

    def learning_rate(self, step: int) -> float:
        if self.lr_decay_every > 0:
            return self.lr * self.lr_decay ** (step // self.lr_decay_every)
        decays = int(step >= self.steps // 2) + int(step >= 3 * self.steps // 4)
        return self.lr * self.lr_decay**decays

    def to_dict(self) -> dict:
        return asdict(self)


def batch_topk_mask(
    activations: Float[Tensor, "batch n_subnetworks"], fraction: float
) -> Bool[Tensor, "batch n_subnetworks"]:
    """True for the ``fraction`` largest ``|activations|`` of the whole batch (at least one)."""
    n_keep = max(1, round(fraction * activations.numel()))
    flat = activations.abs().flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.topk(n_keep).indices] = True
    return mask.view_as(activations)


def reconstruction_loss(
    gradients: Float[Tensor, "batch n_params"],
    reconstruction: Float[Tensor, "batch n_params"],
    normalisation: str = "batch",
) -> Tensor:
    """``||g - g_hat||^2 / ||g||^2``, over the batch (``"batch"``) or averaged per sample."""
    residual = ((gradients - reconstruction) ** 2).sum(-1)
    energy = (gradients**2).sum(-1)
    if normalisation == "batch":
        return residual.sum() / energy.sum().clamp_min(1e-30)
    nonzero = energy > 0
    return (residual[nonzero] / energy[nonzero]).mean()


def reconstruct(
    subnetworks: Subnetworks, gradients: Float[Tensor, "batch n_params"], topk: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Activations, their batch top-k mask, and the reconstructed gradients."""
    activations = gradients @ subnetworks.dense("in").T
    mask = batch_topk_mask(activations, topk)
    return activations, mask, (activations * mask) @ subnetworks.dense("out")


@dataclass
class L3DState:
    """Everything a fit needs to continue: subnetworks, optimiser, step and the metrics log."""

    subnetworks: Subnetworks
    optimizer: torch.optim.Optimizer
    step: int = 0
    log: list[dict] = field(default_factory=list)


def new_state(subnetworks: Subnetworks, config: L3DConfig) -> L3DState:
    return L3DState(subnetworks, torch.optim.Adam(subnetworks.parameters(), lr=config.lr))


def _train_step(state: L3DState, gradients: Tensor, config: L3DConfig) -> dict:
    for group in state.optimizer.param_groups:
        group["lr"] = config.learning_rate(state.step)
    _, mask, reconstruction = reconstruct(state.subnetworks, gradients, config.topk)
    loss = reconstruction_loss(gradients, reconstruction, config.loss_normalisation)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    state.subnetworks.renormalise()
    state.step += 1
    return {"loss": loss.item(), "active_per_subnetwork": mask.sum(0).cpu()}


def fit(
    gradient_batch: GradientBatch,
    subnetworks: Subnetworks,
    config: L3DConfig,
    state: L3DState | None = None,
    *,
    on_checkpoint: Callable[[L3DState], None] | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> L3DState:
    """Train ``subnetworks`` on ``gradient_batch(step)`` to ``config.steps``; resumes ``state``."""
    state = state or new_state(subnetworks, config)
    window_loss, window_active, window_n = 0.0, torch.zeros(config.n_subnetworks), 0
    bar = tqdm(total=config.steps, initial=state.step, desc="L3D", disable=not progress)
    while state.step < config.steps:
        stats = _train_step(state, gradient_batch(state.step), config)
        window_loss += stats["loss"]
        window_active += stats["active_per_subnetwork"]
        window_n += 1
        bar.update(1)
        if state.step % config.log_every == 0 or state.step == config.steps:
            row = _log_row(state.step, config, window_loss / window_n, window_active)
            state.log.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", dead=row["dead_subnetworks"])
            window_loss, window_active, window_n = 0.0, torch.zeros(config.n_subnetworks), 0
        if on_checkpoint and checkpoint_every and state.step % checkpoint_every == 0:
            on_checkpoint(state)
    bar.close()
    return state


def _log_row(step: int, config: L3DConfig, loss: float, active: Tensor) -> dict:
    row = {
        "step": step,
        "loss": loss,
        "lr": config.learning_rate(step - 1),
        "dead_subnetworks": int((active == 0).sum()),
    }
    log.info("step %d loss %.4f dead %d", step, loss, row["dead_subnetworks"])
    return row
