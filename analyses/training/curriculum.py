"""Curriculum on sparse modular addition (Odonnat et al.): pretrain p=2, finetune p=4.

Arms, each over several seeds, on the same p=4 train/test sets (T=12, k=5, n=2048, full batch,
Adam): from scratch on p=4, and the curriculum (p=2 for ``pretrain_steps``, then p=4 for
``finetune_steps`` with a fresh optimiser). The authors' schedule (our reading of their code) is
p=2 at lr 1e-3, p=4 at lr 1e-2 and from-scratch at 1e-3; every lr in ``same_lrs`` adds a
from-scratch arm and a curriculum arm that both use that one lr, so the two arms can be compared
without the learning-rate difference.

Outputs: ``metrics.parquet`` (every arm, seed and eval step), ``barrier.parquet`` (loss along the
straight line from the scratch to the curriculum solution), ``attention.safetensors`` (the
query's mean attention over positions through training), ``summary.json`` and figures
``accuracy``, ``barrier``, ``attention``, ``embedding_d2``.

Example:
    >>> from mechcirc.runs import RunFolder
    >>> config = CurriculumConfig.quick()
    >>> run = RunFolder.create("/tmp/curriculum", command="experiment curriculum",
    ...                        config=config.to_dict())  # doctest: +SKIP
    >>> run_curriculum(config, run)["arms"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.analyses.training import figures
from mechcirc.runs import RunFolder
from mechcirc.tasks.modular_addition import TrainTestSplit
from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION
from mechcirc.toys.cross_attention import CrossAttentionConfig, HookedCrossAttention
from mechcirc.training import TrainConfig, Trainer

logger = logging.getLogger(__name__)

P_FINAL, P_PRETRAIN = 4, 2


@dataclass
class CurriculumConfig:
    seq_len: int = 12
    k: int = 5
    n_train: int = 2048
    n_test: int = 2048
    d_model: int = 32
    mlp_residual: Literal["z_A", "normed"] = "z_A"  # "normed": the paper's equation for z_O
    pretrain_steps: int = 3000
    finetune_steps: int = 7000
    pretrain_lr: float = 1e-3
    finetune_lr: float = 1e-2
    scratch_lr: float = 1e-3
    same_lrs: tuple[float, ...] = (1e-3, 1e-2)
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_every: int = 100
    # The d=2 z_A figure's model: mini-batches (the authors' visualisation runs used batches of
    # 32; full batch at d=2 stays at chance on p=2), one lr, this many steps per phase.
    embedding_d_model: int = 2
    embedding_batch_size: int | None = 32
    embedding_lr: float = 1e-3
    embedding_steps: int = 64_000
    workers: int = 1  # processes for the (seed, arm) runs, each one thread
    save_checkpoints: bool = True
    progress: bool = True

    @classmethod
    def quick(cls) -> CurriculumConfig:
        """Seconds-long settings for tests and ``--quick``: the mechanics, not the result."""
        return cls(
            n_train=64,
            n_test=64,
            pretrain_steps=20,
            finetune_steps=30,
            seeds=(0,),
            same_lrs=(1e-3,),
            eval_every=10,
            embedding_steps=20,
            progress=False,
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Arm:
    name: str
    pretrain_lr: float | None  # None: from scratch
    lr: float  # the p=4 phase (the whole run from scratch)


def arms(config: CurriculumConfig) -> list[Arm]:
    """The authors' two arms, then a scratch and a curriculum arm for each common lr."""
    found = [
        Arm(f"scratch lr={config.scratch_lr:g}", None, config.scratch_lr),
        Arm(
            f"curriculum {config.pretrain_lr:g}->{config.finetune_lr:g} (authors)",
            config.pretrain_lr,
            config.finetune_lr,
        ),
    ]
    for lr in config.same_lrs:
        found += [Arm(f"scratch lr={lr:g}", None, lr), Arm(f"curriculum {lr:g}->{lr:g}", lr, lr)]
    unique = {(a.pretrain_lr, a.lr): a for a in reversed(found)}  # keep the first name
    return [unique[(a.pretrain_lr, a.lr)] for a in found if unique[(a.pretrain_lr, a.lr)] is a]


class AttentionProbe:
    """Probe: p=4 test accuracy and the query's mean attention over positions at every eval."""

    def __init__(self, p4: TrainTestSplit, k: int, step_offset: int = 0) -> None:
        self.p4, self.k, self.step_offset = p4, k, step_offset
        self.steps: list[int] = []
        self.patterns: list[torch.Tensor] = []

    def __call__(self, trainer: Trainer) -> dict[str, float]:
        logits, cache = trainer.model.run_with_cache(
            self.p4.test_inputs, names_filter="attn.hook_pattern"
        )
        pattern = cache["attn.hook_pattern"].mean(0)
        self.steps.append(trainer.step + self.step_offset)
        self.patterns.append(pattern)
        accuracy = (logits.argmax(-1) == self.p4.test_labels).float().mean()
        return {"p4_test_acc": float(accuracy), "attn_first_k": float(pattern[: self.k].sum())}


def run_curriculum(config: CurriculumConfig, run: RunFolder) -> dict:
    """Train every arm for every seed, write tables and figures into ``run``; headline metrics."""
    units = [(seed, arm) for seed in config.seeds for arm in arms(config)]
    results, embedding = _run_units(config, units)
    tables, patterns, finals = [], {}, {}
    for (seed, arm), (metrics, steps, stack, state) in zip(units, results, strict=True):
        tables.append(metrics.assign(arm=arm.name, seed=seed))
        patterns[(arm.name, seed)] = (steps, stack)
        finals[(arm.name, seed)] = state
    if config.save_checkpoints:
        (run.path / "checkpoints").mkdir(exist_ok=True)
        for (arm, seed), state in finals.items():
            run.save_tensors(f"checkpoints/{_slug(arm)}-seed{seed}.safetensors", state)
    metrics = pd.concat(tables, ignore_index=True)
    run.save_table("metrics.parquet", metrics)
    summary = _summarise(metrics, config)
    _barrier(config, run, finals)
    _attention_figure(config, run, patterns)
    summary["embedding_d2"] = _embedding_figure(config, run, *embedding)
    run.save_json("summary.json", summary)
    switch = [(config.pretrain_steps, "switch p=2 -> p=4")]
    title = "Sparse modular addition (T=12, k=5): accuracy on the current phase's data"
    fig = figures.accuracy_curves(metrics, group="arm", vlines=switch, title=title)
    figures.save_figure(fig, run, "accuracy")
    return summary


def _run_units(config: CurriculumConfig, units: list) -> tuple[list, tuple]:
    """Each (seed, arm) and the d=2 model are independent: with ``workers > 1`` they run in
    one-thread processes (the p=2 phase is then recomputed per arm; it is deterministic)."""
    if config.workers <= 1:
        return [_run_unit(config, *unit) for unit in units], _train_embedding_model(config)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
        embedding = pool.submit(_train_embedding_model, config)
        seeds, arm_list = zip(*units, strict=True)
        results = list(pool.map(_run_unit, [config] * len(units), seeds, arm_list))
        return results, embedding.result()


def _run_unit(config: CurriculumConfig, seed: int, arm: Arm) -> tuple:
    """Metrics, probe steps, stacked attention patterns and final weights of one arm."""
    torch.set_num_threads(1)
    logger.info("curriculum: seed %d, arm %s", seed, arm.name)
    p4, p2 = _datasets(config, seed)
    model, metrics, probe = _train_arm(config, arm, seed, p2, p4)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return metrics, probe.steps, torch.stack(probe.patterns), state


def _datasets(config: CurriculumConfig, seed: int) -> tuple[TrainTestSplit, TrainTestSplit]:
    shape = {
        "seq_len": config.seq_len,
        "k": config.k,
        "n_train": config.n_train,
        "n_test": config.n_test,
        "d_vocab": P_FINAL,
    }
    p4 = SPARSE_MODULAR_ADDITION.build(p=P_FINAL, seed=seed, **shape)
    p2 = SPARSE_MODULAR_ADDITION.build(p=P_PRETRAIN, seed=seed + 10_000, **shape)
    return p4, p2


def _train_arm(config, arm: Arm, seed: int, p2, p4):
    model = HookedCrossAttention(_model_config(config, config.d_model, seed))
    total = config.pretrain_steps + config.finetune_steps
    train = TrainConfig(
        optimizer="adam",
        eval_every=config.eval_every,
        seed=seed,
        progress=config.progress,
        steps=total,
        lr=arm.lr,
    )
    probe = AttentionProbe(p4, config.k)
    if arm.pretrain_lr is None:
        metrics = Trainer(model, p4, train, probes=[probe]).fit().assign(phase="p=4")
        return model, metrics, probe
    phase1 = replace(train, steps=config.pretrain_steps, lr=arm.pretrain_lr)
    first = Trainer(model, p2, phase1, probes=[probe]).fit().assign(phase="p=2")
    probe.step_offset = config.pretrain_steps
    end_of_phase1 = len(probe.steps)
    phase2 = replace(train, steps=config.finetune_steps, lr=arm.lr)
    second = Trainer(model, p4, phase2, probes=[probe]).fit().iloc[1:]  # row 0 = end of phase 1
    second = second.assign(step=second["step"] + config.pretrain_steps, phase="p=4")
    # The phase-2 trainer's step-0 evaluation re-recorded step pretrain_steps (same weights):
    # drop it from the probe as from the metrics, so every step is recorded once.
    del probe.steps[end_of_phase1], probe.patterns[end_of_phase1]
    return model, pd.concat([first, second], ignore_index=True), probe


def _model_config(config: CurriculumConfig, d_model: int, seed: int) -> CrossAttentionConfig:
    return CrossAttentionConfig(
        d_vocab=P_FINAL,
        n_ctx=config.seq_len,
        d_model=d_model,
        mlp_residual=config.mlp_residual,
        seed=seed,
    )


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
    return {"arms": rows, "steps": config.pretrain_steps + config.finetune_steps}


@torch.no_grad()
def _barrier(config: CurriculumConfig, run: RunFolder, finals: dict) -> None:
    """Loss along (1 - t) * theta_scratch + t * theta_curriculum under the authors' arms."""
    scratch, curriculum = (a.name for a in arms(config)[:2])
    t_values = np.linspace(0, 1, 21)
    rows = []
    for seed in config.seeds:
        p4, _ = _datasets(config, seed)
        model = HookedCrossAttention(_model_config(config, config.d_model, seed))
        start, end = finals[(scratch, seed)], finals[(curriculum, seed)]
        for t in t_values:
            model.load_state_dict({k: (1 - t) * start[k] + t * end[k] for k in start})
            for split, x, y in (
                ("train", p4.train_inputs, p4.train_labels),
                ("test", p4.test_inputs, p4.test_labels),
            ):
                rows.append(
                    {
                        "seed": seed,
                        "t": float(t),
                        "split": split,
                        "loss": float(F.cross_entropy(model(x), y)),
                    }
                )
    table = pd.DataFrame(rows)
    run.save_table("barrier.parquet", table)
    mean = table.groupby(["split", "t"])["loss"].mean()
    curves = {
        f"{split} loss (mean of {len(config.seeds)} seeds)": mean[split].to_numpy()
        for split in ("train", "test")
    }
    figures.save_figure(
        figures.interpolation_curve(
            t_values, curves, "p=4 loss between the scratch and curriculum solutions"
        ),
        run,
        "barrier",
    )


def _attention_figure(config: CurriculumConfig, run: RunFolder, patterns: dict) -> None:
    seed = config.seeds[0]
    tensors = {}
    for (arm, arm_seed), (steps, stack) in patterns.items():
        tensors[f"{_slug(arm)}.seed{arm_seed}.pattern"] = stack
        tensors[f"{_slug(arm)}.seed{arm_seed}.step"] = torch.tensor(steps)
    run.save_tensors("attention.safetensors", tensors)
    names = [a.name for a in arms(config)[:2]]
    panels = [(name, *patterns[(name, seed)]) for name in names]
    for index, (name, steps, stack) in enumerate(panels):
        switch = config.pretrain_steps if "curriculum" in name else None
        fig = figures.attention_heatmap(
            np.array(steps),
            stack.numpy(),
            config.k,
            f"query attention over positions: {name}",
            switch,
        )
        figures.save_figure(fig, run, f"attention_{'curriculum' if index else 'scratch'}")


def _train_embedding_model(config: CurriculumConfig) -> tuple[list, dict]:
    """z_A of a d=2 model after p=2 pretraining and after p=4 finetuning, with its test accuracy
    and how tightly z_A clusters by the sum of the first k tokens after each phase."""
    torch.set_num_threads(1)
    seed = config.seeds[0]
    p4, p2 = _datasets(config, seed)
    model = HookedCrossAttention(_model_config(config, config.embedding_d_model, seed))
    train = TrainConfig(
        optimizer="adam",
        lr=config.embedding_lr,
        steps=config.embedding_steps,
        batch_size=config.embedding_batch_size,
        eval_every=max(config.eval_every, config.embedding_steps // 20),
        seed=seed,
        progress=config.progress,
    )
    panels, measures = [], {}
    for phase, data in (("after p=2 pretraining", p2), ("after p=4 finetuning", p4)):
        metrics = Trainer(model, data, train).fit()
        with torch.no_grad():
            _, cache = model.run_with_cache(data.test_inputs, names_filter="attn.hook_z")
        sums = data.test_inputs[:, : config.k].sum(1)
        z_a = cache["attn.hook_z"]
        accuracy = float(metrics["test_acc"].iloc[-1])
        measures[phase] = {"test_acc": accuracy, "eta2_sum": cluster_eta2(z_a, sums)}
        title = f"{phase} (test acc {accuracy:.2f})"
        panels.append((z_a.numpy(), sums.numpy(), title))
    return panels, measures


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


def _embedding_figure(config: CurriculumConfig, run: RunFolder, panels: list, measures: dict):
    title = (
        f"z_A of a d={config.embedding_d_model} model, coloured by the sum of the first "
        f"k={config.k} tokens"
    )
    figures.save_figure(figures.embedding_scatter(panels, title), run, "embedding_d2")
    return {"d_model": config.embedding_d_model, **measures}


def _slug(name: str) -> str:
    keep = [c if c.isalnum() or c in ".-" else "-" for c in name.replace("->", "to")]
    return "-".join(filter(None, "".join(keep).split("-")))
