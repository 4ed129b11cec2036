"""One L3D run end to end: fit (resumable), evaluate, intervene, and write the run folder.

Notebook use:

    >>> target = VectorTarget(select_parameters(model), toy.sample)             # doctest: +SKIP
    >>> state = decompose(target, L3DConfig(n_subnetworks=5, rank=1, topk=0.1))  # doctest: +SKIP
    >>> report = evaluate(target, state.subnetworks, config)                     # doctest: +SKIP
    >>> report.loss, report.frequency                                            # doctest: +SKIP

The CLI (``mechcirc l3d``) calls :func:`decompose`, :func:`evaluate` and :func:`write_report`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mechcirc.analyses.l3d.checkpoint import load_checkpoint, save_checkpoint
from mechcirc.analyses.l3d.gradients import flat_gradients, reference_outputs
from mechcirc.analyses.l3d.impact import (
    activation_frequency,
    active_mask,
    count,
    impacts,
    take,
    top_samples,
)
from mechcirc.analyses.l3d.interventions import default_deltas, intervention_curves
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.training import (
    L3DConfig,
    L3DState,
    fit,
    reconstruct,
    reconstruction_loss,
)
from mechcirc.errors import UsageError

log = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 7_919  # evaluation data never coincides with a training step's data


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of training step ``step``: a resumed fit redraws the same batches."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def decompose(
    target,
    config: L3DConfig,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> L3DState:
    """Fit ``config.n_subnetworks`` subnetworks to ``target``'s per-sample gradients."""
    device = next(iter(target.group.values().values())).device
    if resume:
        if checkpoint is None:
            raise UsageError("resume=True needs the checkpoint path to resume from")
        state = load_checkpoint(checkpoint, config, device=device)
        log.info("resuming from step %d of %d", state.step, config.steps)
        subnetworks = state.subnetworks
    else:
        subnetworks = Subnetworks(
            target.group.shapes, config.n_subnetworks, config.rank, seed=config.seed
        )
        state = None
    subnetworks.to(device)

    def gradient_batch(step: int) -> Tensor:
        generator = step_generator(config.seed, step)
        inputs = target.sample(generator, config.batch_size)
        return flat_gradients(target, inputs, reference_outputs(target, inputs, generator))

    def save(current: L3DState) -> None:
        save_checkpoint(checkpoint, current, config)

    state = fit(
        gradient_batch,
        subnetworks,
        config,
        state,
        on_checkpoint=save if checkpoint else None,
        checkpoint_every=checkpoint_every,
        progress=progress,
    )
    if checkpoint:
        save(state)
    return state


@dataclass
class Evaluation:
    """Held-out reconstruction loss, impacts, activity and intervention curves."""

    inputs: Any
    loss: float
    impact: Tensor  # [n_eval, n_subnetworks]
    active: Tensor  # [n_eval, n_subnetworks] bool
    frequency: Tensor  # [n_subnetworks]
    curves: Any  # pandas DataFrame, or None when interventions were skipped

    @property
    def dead(self) -> int:
        return int((self.frequency == 0).sum())


@torch.no_grad()
def held_out_loss(target, subnetworks: Subnetworks, config: L3DConfig, inputs: Any) -> float:
    """Reconstruction loss on ``inputs`` with one random reference each (batch top-k over all)."""
    generator = torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET + 1)
    references = reference_outputs(target, inputs, generator)
    n = count(inputs)
    chunk = config.batch_size
    grads = torch.cat(
        [
            flat_gradients(target, take(inputs, slice(i, i + chunk)), references[i : i + chunk])
            for i in range(0, n, chunk)
        ]
    )
    _, _, reconstruction = reconstruct(subnetworks, grads, config.topk)
    return reconstruction_loss(grads, reconstruction, config.loss_normalisation).item()


def evaluate(
    target,
    subnetworks: Subnetworks,
    config: L3DConfig,
    *,
    n_eval: int = 1024,
    n_references: int = 4,
    deltas: Sequence[float] | None = None,
    interventions: bool = True,
) -> Evaluation:
    """Loss, impacts (averaged over references), activity and intervention curves on new data."""
    inputs = target.sample(torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET), n_eval)
    loss = held_out_loss(target, subnetworks, config, inputs)
    impact = impacts(
        target, subnetworks, inputs, n_references, seed=config.seed, chunk=config.batch_size
    )
    active = active_mask(impact, config.topk)
    curves = None
    if interventions:
        deltas = list(deltas) if deltas else default_deltas(target)
        curves = intervention_curves(target, subnetworks, inputs, active, deltas)
    return Evaluation(inputs, loss, impact, active, activation_frequency(active), curves)


def subnetwork_tensors(subnetworks: Subnetworks) -> dict[str, Tensor]:
    """Dense ``V_out`` and ``V_in`` per parameter, ``[n_subnetworks, *shape]``, for saving."""
    tensors = {}
    for which in ("out", "in"):
        parts = subnetworks.unflatten(subnetworks.dense(which).detach())
        tensors.update({f"v_{which}/{name}": part for name, part in parts.items()})
    return tensors


def write_report(run, target, state: L3DState, evaluation: Evaluation, n_top: int = 10) -> dict:
    """Write subnetworks, metrics log, top samples, impacts and intervention curves into ``run``."""
    import pandas as pd

    from mechcirc.analyses.l3d.plots import plot_intervention_curves

    run.save_tensors("subnetworks.safetensors", subnetwork_tensors(state.subnetworks))
    run.save_table("metrics.parquet", pd.DataFrame(state.log))
    run.save_tensors("impact.safetensors", {"impact": evaluation.impact})
    run.save_json(
        "top_samples.json", top_samples(target, evaluation.inputs, evaluation.impact, n_top)
    )
    if evaluation.curves is not None:
        run.save_table("interventions.parquet", evaluation.curves)
        for path in plot_intervention_curves(evaluation.curves, run.path / "interventions"):
            run.file(path.name)
    return {
        "reconstruction_loss": evaluation.loss,
        "train_loss": state.log[-1]["loss"] if state.log else None,
        "dead_subnetworks": evaluation.dead,
        "activation_frequency": [round(float(f), 5) for f in evaluation.frequency],
        "parameters": list(target.group.names),
        "n_params": target.group.n_params,
    }
