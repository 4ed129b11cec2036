"""One L3D decomposition end to end: fit (resumable), evaluate, intervene, optionally write a run.

``decompose(target, L3DConfig(...))`` is what ``mechcirc l3d`` and a notebook call. Without a run
folder nothing touches the disk; with one every output goes into it: ``checkpoint.safetensors``
(resume), ``subnetworks.safetensors`` (the Tucker factors), ``metrics.parquet`` (training log),
``impact.safetensors``, ``top_samples.json`` (for texts: context, highlighted position and the
most-affected logits), ``interventions.parquet`` / ``.png`` / ``.svg``, and the manifest's
metrics.

Example:
    >>> from mechcirc.analyses import l3d
    >>> target, model = l3d.toy_target("tms", seed=0)                       # doctest: +SKIP
    >>> config = l3d.L3DConfig.preset("fast", n_subnetworks=5)                # doctest: +SKIP
    >>> result = l3d.decompose(target, config)                               # doctest: +SKIP
    >>> result.loss, result.dead                                             # doctest: +SKIP
    (0.07, 0)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from mechcirc.analyses.l3d.batches import TrainingBatches, evaluation_inputs
from mechcirc.analyses.l3d.checkpoint import load_state, save_state, save_subnetworks
from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.evaluation import (
    activation_frequency,
    active_mask,
    impacts_and_loss,
    top_samples,
)
from mechcirc.analyses.l3d.interventions import default_deltas, intervention_curves
from mechcirc.analyses.l3d.logits import annotate_top_logits
from mechcirc.analyses.l3d.members import fit_members
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.targets import TokenTarget
from mechcirc.analyses.l3d.training import L3DState, fit
from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder

__all__ = [
    "CHECKPOINT",
    "Decomposition",
    "decompose",
    "decompose_members",
    "evaluate",
    "write_outputs",
]

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"


@dataclass
class Decomposition:
    """What :func:`decompose` found: the fitted subnetworks and their held-out evaluation."""

    config: L3DConfig
    state: L3DState
    inputs: Any  # the held-out evaluation inputs
    loss: float  # held-out reconstruction loss
    impact: Tensor  # [n_eval_samples, n_subnetworks]
    active: Tensor  # [n_eval_samples, n_subnetworks] bool
    top: dict[str, list[dict]]
    curves: Any = None  # pandas DataFrame of intervention curves, or None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def subnetworks(self) -> Subnetworks:
        return self.state.subnetworks

    @property
    def frequency(self) -> Tensor:
        return activation_frequency(self.active)

    @property
    def dead(self) -> int:
        return int((self.frequency == 0).sum())

    def metrics(self) -> dict[str, Any]:
        """Headline numbers, as the manifest records them."""
        group = self.subnetworks
        return {
            "reconstruction_loss": self.loss,
            "train_loss": self.state.log[-1]["loss"] if self.state.log else None,
            "dead_subnetworks": self.dead,
            "dead_fraction": self.dead / group.n_subnetworks,
            "activation_frequency": [round(float(f), 5) for f in self.frequency],
            "parameters": list(group.names),
            "n_params": group.n_params,
            "n_factor_values": group.n_factor_values(),
            "n_eval_samples": int(self.impact.shape[0]),
            "steps": self.state.step,
        }


def _initial_state(target, config: L3DConfig, run: RunFolder | None, resume: bool):
    device = next(iter(target.group.values().values())).device
    if resume:
        if run is None:
            raise UsageError("resume=True needs the run folder whose checkpoint it continues")
        state = load_state(run.path / CHECKPOINT, config, device=device)
        log.info("resuming from step %d of %d", state.step, config.steps)
        return state.subnetworks, state
    subnetworks = Subnetworks(
        target.group.shapes, config.n_subnetworks, ranks=config.mode_rank, seed=config.seed
    )
    return subnetworks.to(device), None


def decompose(
    target,
    config: L3DConfig | None = None,
    run: RunFolder | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> Decomposition:
    """Fit ``config.n_subnetworks`` subnetworks to ``target``'s per-sample gradients, then
    evaluate them on held-out inputs.

    Args:
        target: a :class:`~.targets.VectorTarget` or :class:`~.targets.TokenTarget`.
        config: settings (default ``L3DConfig()``).
        run: a run folder to write every output into (checkpoints included), or None.
        resume: continue from ``run``'s checkpoint (same config; ``steps`` may grow).
        progress: show progress bars.
    """
    config = config or L3DConfig()
    subnetworks, state = _initial_state(target, config, run, resume)
    started = time.perf_counter()
    save = (lambda s: save_state(run.file(CHECKPOINT), s, config)) if run is not None else None
    state = fit(
        TrainingBatches(target, config),
        subnetworks,
        config,
        state,
        on_checkpoint=save,
        progress=progress,
    )
    return _conclude(target, state, config, run, time.perf_counter() - started, progress)


def decompose_members(
    targets: Sequence,
    configs: Sequence[L3DConfig],
    runs: Sequence[RunFolder | None] | None = None,
    *,
    progress: bool = True,
) -> list[Decomposition]:
    """:func:`decompose` for several targets whose configs differ only in ``seed``, fitted at
    once (:func:`~.members.fit_members`): each result equals its own ``decompose`` to float
    rounding, for about the fitting time of one. The targets must share a parameter layout
    (the same toy with other seeds, weights or divergences)."""
    runs = list(runs) if runs is not None else [None] * len(targets)
    if not (len(targets) == len(configs) == len(runs)) or not targets:
        raise UsageError(
            f"decompose_members needs one config and run per target, got {len(targets)} "
            f"targets, {len(configs)} configs and {len(runs)} runs"
        )
    shared = {repr(c.replace(seed=0).to_dict()) for c in configs}
    if len(shared) > 1:
        raise UsageError("decompose_members fits configs that differ only in their seed")
    subnetworks = [
        Subnetworks(t.group.shapes, c.n_subnetworks, ranks=c.mode_rank, seed=c.seed)
        for t, c in zip(targets, configs, strict=True)
    ]
    batches = [TrainingBatches(t, c) for t, c in zip(targets, configs, strict=True)]
    started = time.perf_counter()
    states = fit_members(batches, subnetworks, configs[0], progress=progress)
    fit_s = time.perf_counter() - started
    return [
        _conclude(t, state, c, run, fit_s, progress, n_members=len(targets))
        for t, state, c, run in zip(targets, states, configs, runs, strict=True)
    ]


def _conclude(target, state, config, run, fit_s: float, progress: bool, n_members: int = 1):
    """Checkpoint, held-out evaluation, timings and (with a run) every output of one fit."""
    if run is not None:
        save_state(run.file(CHECKPOINT), state, config)
    started = time.perf_counter()
    result = evaluate(target, state, config, progress=progress)
    result.timings = {
        "fit_s": round(fit_s, 3),
        "evaluate_s": round(time.perf_counter() - started, 3),
    }
    if n_members > 1:
        result.timings["fit_members"] = n_members  # fit_s is the whole stack's
    if run is not None:
        write_outputs(run, result)
    return result


def evaluate(
    target, state: L3DState, config: L3DConfig, *, progress: bool = False
) -> Decomposition:
    """Held-out loss, impacts, activity, top samples (with logits for texts) and interventions."""
    inputs = evaluation_inputs(target, config)
    impact, loss = impacts_and_loss(
        target, state.subnetworks, inputs, config, seed=config.seed, progress=progress
    )
    active = active_mask(impact, config.topk)
    top = top_samples(target, inputs, impact, config.n_top)
    if isinstance(target, TokenTarget):
        top = annotate_top_logits(target, state.subnetworks, top)
    curves = None
    if config.interventions:
        deltas = list(config.deltas) if config.deltas else default_deltas(target)
        curves = intervention_curves(target, state.subnetworks, inputs, active, deltas)
    return Decomposition(config, state, inputs, loss, impact, active, top, curves)


def write_outputs(run: RunFolder, result: Decomposition) -> None:
    """Every output of ``result`` into ``run`` (through the run, so the manifest lists it)."""
    import pandas as pd

    from mechcirc.analyses.l3d.plots import plot_intervention_curves

    save_subnetworks(run.file("subnetworks.safetensors"), result.subnetworks)
    run.save_table("metrics.parquet", pd.DataFrame(result.state.log))
    run.save_tensors("impact.safetensors", {"impact": result.impact})
    run.save_json("top_samples.json", result.top)
    if result.curves is not None:
        run.save_table("interventions.parquet", result.curves)
        for path in plot_intervention_curves(result.curves, run.path / "interventions"):
            run.file(path.name)
    run.update(metrics=result.metrics(), timings=result.timings)
