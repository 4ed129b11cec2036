"""Curriculum on sparse modular addition (Odonnat et al.): pretrain p=2, finetune p=4.

Arms, each over several seeds, on the same p=4 train/test sets (T=12 or 8, k=5, n=2048, full
batch, Adam): from scratch on p=4, and the curriculum (p=2 for ``pretrain_steps``, then p=4 for
``finetune_steps`` with a fresh optimiser). The headline arms are the paper's stated setting,
lr 1e-3 throughout (``scratch_lr`` and 1e-3 in ``same_lrs``); the authors' notebook schedule
(p=2 at ``pretrain_lr`` 1e-3, p=4 at ``finetune_lr`` 1e-2) is its own arm, labelled as such;
every other lr in ``same_lrs`` adds a scratch and a curriculum arm at that one lr.

Outputs (with a run folder): ``metrics.parquet`` (every arm, seed and eval step),
``barrier.parquet`` (p=4 loss along the straight line from the scratch to the curriculum
solution, Fig. 6), ``attention.safetensors`` (the query's mean attention over positions through
training), ``summary.json``, figures ``accuracy``, ``barrier``, ``attention_*``, and the
figures of :mod:`~mechcirc.analyses.training.curriculum_views` (Figs. 2, 3, 4, 7).

Example:
    >>> result = run_curriculum(CurriculumConfig.preset("quick"))  # nothing written
    >>> [arm["arm"] for arm in result.summary["arms"]][:2]  # doctest: +SKIP
    ["scratch lr=0.001 (paper's setting)", "curriculum 0.001->0.001 (paper's setting)"]
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from mechcirc.analyses.training import curriculum_views, figures
from mechcirc.analyses.training.curriculum_setup import (
    Arm,
    CurriculumConfig,
    arms,
    datasets,
    model_config,
)
from mechcirc.checkpoints import save_checkpoint
from mechcirc.runs import RunFolder
from mechcirc.splits import TrainTestSplit
from mechcirc.toys.cross_attention import HookedCrossAttention
from mechcirc.training import TrainConfig, Trainer

__all__ = [
    "CurriculumConfig",
    "CurriculumResult",
    "UnitResult",
    "run_curriculum",
    "run_unit",
    "slug",
]

logger = logging.getLogger(__name__)


class CurriculumProbe:
    """Probe: p=4 test accuracy, the query's mean attention over positions and (optionally)
    the flattened parameters at every evaluation."""

    def __init__(self, p4: TrainTestSplit, k: int, keep_parameters: bool) -> None:
        self.p4, self.k, self.keep_parameters = p4, k, keep_parameters
        self.offset = 0
        self.steps: list[int] = []
        self.patterns: list[Tensor] = []
        self.parameters: list[Tensor] = []

    def __call__(self, trainer: Trainer) -> dict[str, float]:
        logits, cache = trainer.model.run_with_cache(
            self.p4.test_inputs, names_filter="attn.hook_pattern"
        )
        pattern = cache["attn.hook_pattern"].mean(0)
        step = trainer.step + self.offset
        if self.steps and self.steps[-1] == step:  # the next phase re-evaluates the switch
            self._drop_last()
        self.steps.append(step)
        self.patterns.append(pattern)
        if self.keep_parameters:
            flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
            self.parameters.append(flat)
        accuracy = (logits.argmax(-1) == self.p4.test_labels).float().mean()
        return {"p4_test_acc": float(accuracy), "attn_first_k": float(pattern[: self.k].sum())}

    def _drop_last(self) -> None:
        self.steps.pop()
        self.patterns.pop()
        if self.parameters:
            self.parameters.pop()


@dataclass
class UnitResult:
    """One (seed, arm): metrics, probe records and weights at the switch and the end."""

    metrics: pd.DataFrame
    steps: list[int]
    patterns: Tensor
    final: dict[str, Tensor]
    switch: dict[str, Tensor] | None = None
    parameters: Tensor | None = None


def _state(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run_unit(config: CurriculumConfig, seed: int, arm: Arm) -> UnitResult:
    """Train one arm for one seed (one thread)."""
    torch.set_num_threads(1)
    logger.info("curriculum: seed %d, arm %s", seed, arm.name)
    p4, p2 = datasets(config, seed)
    model = HookedCrossAttention(model_config(config, seed))
    train = TrainConfig(
        optimizer="adam",
        eval_every=config.eval_every,
        seed=seed,
        progress=config.progress,
        steps=config.pretrain_steps + config.finetune_steps,
        lr=arm.lr,
    )
    probe = CurriculumProbe(p4, config.k, config.trajectory)
    switch = None
    if not arm.curriculum:
        metrics = Trainer(model, p4, train, probes=[probe]).fit().assign(phase="p=4")
    else:
        phase1 = train.replace(steps=config.pretrain_steps, lr=arm.pretrain_lr)
        first = Trainer(model, p2, phase1, probes=[probe]).fit().assign(phase="p=2")
        switch, probe.offset = _state(model), config.pretrain_steps
        phase2 = train.replace(steps=config.finetune_steps, lr=arm.lr)
        second = Trainer(model, p4, phase2, probes=[probe]).fit().iloc[1:]  # row 0: the switch
        second = second.assign(step=second["step"] + config.pretrain_steps, phase="p=4")
        metrics = pd.concat([first, second], ignore_index=True)
    parameters = torch.stack(probe.parameters) if probe.parameters else None
    patterns = torch.stack(probe.patterns)
    return UnitResult(metrics, probe.steps, patterns, _state(model), switch, parameters)


@dataclass
class CurriculumResult:
    config: CurriculumConfig
    history: pd.DataFrame  # every arm, seed and evaluation
    units: dict[tuple[str, int], UnitResult]
    barrier: pd.DataFrame
    views: dict[str, Any]  # what curriculum_views computed (Figs. 2, 3, 4, 7)
    summary: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return self.summary


def run_curriculum(config: CurriculumConfig, run: RunFolder | None = None) -> CurriculumResult:
    """Train every arm for every seed, the figures' extra runs; with ``run`` write it all."""
    units = [(seed, arm) for seed in config.seeds for arm in arms(config)]
    results, embedding, graph = _run_all(config, units)
    by_unit = {(arm.name, seed): result for (seed, arm), result in zip(units, results, strict=True)}
    history = pd.concat(
        [r.metrics.assign(arm=name, seed=seed) for (name, seed), r in by_unit.items()],
        ignore_index=True,
    )
    barrier = _barrier(config, by_unit)
    views = curriculum_views.compute(config, by_unit, embedding, graph)
    summary = _summarise(history, config) | {"barrier": _barrier_summary(barrier)}
    result = CurriculumResult(config, history, by_unit, barrier, views, summary | views["summary"])
    if run is not None:
        _write(result, run)
    return result


def _run_all(config: CurriculumConfig, units: list) -> tuple[list, Any, Any]:
    """Each (seed, arm), the d=2 models and the Fig. 2 run are independent: with ``workers > 1``
    they run in one-thread processes (the p=2 phase is then recomputed per arm)."""
    extras = (curriculum_views.train_embedding_models, curriculum_views.attention_graph_run)
    if config.workers <= 1:
        return [run_unit(config, *unit) for unit in units], *(f(config) for f in extras)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
        pending = [pool.submit(f, config) for f in extras]
        seeds, arm_list = zip(*units, strict=True)
        results = list(pool.map(run_unit, [config] * len(units), seeds, arm_list))
        return results, *(p.result() for p in pending)


def _summarise(metrics: pd.DataFrame, config: CurriculumConfig) -> dict:
    last = metrics.sort_values("step").groupby(["arm", "seed"], sort=False).tail(1)
    rows = []
    for name in (arm.name for arm in arms(config)):  # the arms' own order
        group = last[last["arm"] == name].sort_values("seed")
        acc = group["p4_test_acc"]
        rows.append(
            {
                "arm": name,
                "seeds": len(group),
                "p4_test_acc_mean": float(acc.mean()),
                "p4_test_acc_min": float(acc.min()),
                "p4_test_acc_max": float(acc.max()),
                "p4_test_acc_by_seed": {
                    str(seed): float(value) for seed, value in zip(group["seed"], acc, strict=True)
                },
                "train_acc_mean": float(group["train_acc"].mean()),
            }
        )
    steps = config.pretrain_steps + config.finetune_steps
    return {"seq_len": config.seq_len, "arms": rows, "steps": steps}


def _pairs(config: CurriculumConfig) -> list[tuple[str, Arm, Arm]]:
    """(label, scratch arm, curriculum arm) whose solutions the barrier connects."""
    found = arms(config)
    labelled = [arm for arm in found if arm.curriculum and "(" in arm.name]  # paper, notebook
    return [("paper" if "paper" in arm.name else "notebook", found[0], arm) for arm in labelled]


@torch.no_grad()
def _barrier(config: CurriculumConfig, units: dict) -> pd.DataFrame:
    """Loss along (1 - t) * theta_scratch + t * theta_curriculum (Fig. 6)."""
    rows = []
    for seed in config.seeds:
        p4, _ = datasets(config, seed)
        model = HookedCrossAttention(model_config(config, seed))
        for pair, scratch, curriculum in _pairs(config):
            start, end = units[(scratch.name, seed)].final, units[(curriculum.name, seed)].final
            for t in np.linspace(0, 1, 21):
                model.load_state_dict({k: (1 - t) * start[k] + t * end[k] for k in start})
                for split, x, y in (
                    ("train", p4.train_inputs, p4.train_labels),
                    ("test", p4.test_inputs, p4.test_labels),
                ):
                    loss = float(F.cross_entropy(model(x), y))
                    rows.append(
                        {"pair": pair, "seed": seed, "t": float(t), "split": split, "loss": loss}
                    )
    return pd.DataFrame(rows)


def _barrier_summary(barrier: pd.DataFrame) -> dict:
    train = barrier[barrier["split"] == "train"]
    found = {}
    for pair, rows in train.groupby("pair", sort=False):
        mean = rows.groupby("t")["loss"].mean()
        peaks = rows.groupby("seed")["loss"].max()
        found[pair] = {
            "train_loss_t0": float(mean.iloc[0]),
            "train_loss_peak": float(mean.max()),
            "t_peak": float(mean.idxmax()),
            "train_loss_t1": float(mean.iloc[-1]),
            "peak_by_seed": {str(s): float(v) for s, v in peaks.items()},
        }
    return found


def _write(result: CurriculumResult, run: RunFolder) -> None:
    config = result.config
    run.update(model={"model_id": "toy:HookedCrossAttention", "config": model_config(config, 0)})
    if config.save_checkpoints:
        for (arm, seed), unit in result.units.items():
            name = f"checkpoints/{slug(arm)}-seed{seed}.safetensors"
            metadata = {"arm": arm, "seed": seed, "model": model_config(config, seed).to_dict()}
            save_checkpoint(
                run.file(name), model=unit.final, step=int(unit.steps[-1]), metadata=metadata
            )
    run.save_table("metrics.parquet", result.history)
    run.save_table("barrier.parquet", result.barrier)
    _barrier_figure(config, run, result.barrier)
    _attention_figures(config, run, result.units)
    curriculum_views.write(result.views, run)
    run.save_json("summary.json", result.summary)
    switch = [(config.pretrain_steps, "switch p=2 -> p=4")]
    title = (
        f"Sparse modular addition (T={config.seq_len}, k={config.k}): accuracy on the current "
        "phase's data"
    )
    fig = figures.accuracy_curves(result.history, group="arm", vlines=switch, title=title)
    figures.save_figure(fig, run, "accuracy")


def _barrier_figure(config: CurriculumConfig, run: RunFolder, barrier: pd.DataFrame) -> None:
    curves = {}
    for (pair, split), rows in barrier.groupby(["pair", "split"], sort=False):
        mean = rows.groupby("t")["loss"].mean()
        curves[f"{pair}: {split} loss (mean of {rows['seed'].nunique()} seeds)"] = mean.to_numpy()
    t_values = np.linspace(0, 1, 21)
    title = f"p=4 loss between the scratch and curriculum solutions (T={config.seq_len})"
    figures.save_figure(figures.interpolation_curve(t_values, curves, title), run, "barrier")


def _attention_figures(config: CurriculumConfig, run: RunFolder, units: dict) -> None:
    tensors = {}
    for (arm, seed), unit in units.items():
        tensors[f"{slug(arm)}.seed{seed}.pattern"] = unit.patterns
        tensors[f"{slug(arm)}.seed{seed}.step"] = torch.tensor(unit.steps)
    run.save_tensors("attention.safetensors", tensors)
    seed = config.seeds[0]
    for arm in arms(config)[:3]:
        unit = units[(arm.name, seed)]
        switch = config.pretrain_steps if arm.curriculum else None
        fig = figures.attention_heatmap(
            np.array(unit.steps),
            unit.patterns.numpy(),
            config.k,
            f"query attention over positions: {arm.name}, seed {seed}",
            switch,
        )
        role = (
            "notebook" if "notebook" in arm.name else "curriculum" if arm.curriculum else "scratch"
        )
        figures.save_figure(fig, run, f"attention_{role}")


def slug(name: str) -> str:
    keep = [c if c.isalnum() or c in ".-" else "-" for c in name.replace("->", "to")]
    return "-".join(filter(None, "".join(keep).split("-")))
