"""Circuit efficiency vs dataset size and the critical dataset size D_crit (Varma et al.).

Efficiency of a trained model on its training set is ``mean correct-class logit (centred: minus
the mean logit) / parameter norm``: how much logit a unit of parameter norm buys, the quantity
weight decay trades against the loss.

- Memorising solutions: for each dataset size D, a model trained on D pairs with *random*
  labels (only memorisation can fit them) under the paper's optimiser.
- Generalising solution: a grokked model (trained on true labels, or loaded from a grokking
  run's checkpoint), measured on subsets of its training set of each size D (a generalising
  circuit's efficiency should not depend on D).

Under the same weight decay each solution settles at a parameter norm; the memorising norm grows
with D while the generalising one does not. D_crit is where the memorising parameter norm
crosses the generalising one (linear interpolation in log D between the bracketing sizes); the
crossing of the logit-per-norm efficiencies is reported too, but logits are not homogeneous of
degree 1 in the parameters, so that ratio compares solutions at different logit scales.

Example:
    >>> summary = run_efficiency(EfficiencyConfig.quick(), run)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.analyses.training import figures
from mechcirc.analyses.training.grokking import GrokkingConfig, _checkpoint_dir, train_grokking
from mechcirc.runs import RunFolder
from mechcirc.tasks.modular_addition import MODULAR_ADDITION, TrainTestSplit
from mechcirc.toys.grokking import grokking_model, last_position_logits
from mechcirc.training import Trainer, parameter_norm


@dataclass
class EfficiencyConfig(GrokkingConfig):
    """``steps`` trains each memorising model; the generalising one is trained or loaded."""

    dataset_fractions: tuple[float, ...] = (0.03, 0.05, 0.1, 0.2, 0.3, 0.4)  # of all P^2 pairs
    steps: int = 1500
    generalising_steps: int = 4000
    from_checkpoint: str | None = None  # a grokking run's checkpoint folder (same p, fraction)

    @classmethod
    def quick(cls) -> EfficiencyConfig:
        return cls(
            p=11,
            train_fraction=0.6,
            steps=20,
            generalising_steps=20,
            eval_every=10,
            dataset_fractions=(0.2, 0.5),
            progress=False,
        )


@torch.no_grad()
def logit_efficiency(model, inputs: Int[Tensor, "n seq"], labels: Int[Tensor, " n"]) -> dict:
    """Mean centred correct-class logit, parameter norm, their ratio, and accuracy."""
    logits: Float[Tensor, "n classes"] = last_position_logits(model, inputs)
    centred = logits - logits.mean(-1, keepdim=True)
    correct = centred.gather(1, labels[:, None]).mean()
    norm = parameter_norm(model.original_model)
    return {
        "correct_logit": float(correct),
        "param_norm": norm,
        "efficiency": float(correct) / norm,
        "train_acc": float((logits.argmax(-1) == labels).float().mean()),
    }


def random_labels(data: TrainTestSplit, size: int, seed: int) -> TrainTestSplit:
    """``size`` training pairs with labels drawn uniformly at random (memorisation only)."""
    subset = data.train_subset(size, seed=seed)
    generator = torch.Generator().manual_seed(seed + 7)
    labels = torch.randint(data.n_classes, (size,), generator=generator)
    return replace(subset, train_labels=labels, meta={**subset.meta, "labels": "random"})


def critical_size(sizes: list[int], memorising: list[float], generalising: float) -> float | None:
    """The first D where the memorising curve crosses the generalising value (log-linear)."""
    points = list(zip(sizes, memorising, strict=True))
    for (d0, m0), (d1, m1) in zip(points, points[1:], strict=False):
        if (m0 - generalising) * (m1 - generalising) <= 0 and m0 != m1:
            share = (generalising - m0) / (m1 - m0)
            return math.exp(math.log(d0) + share * (math.log(d1) - math.log(d0)))
    return None


def run_efficiency(config: EfficiencyConfig, run: RunFolder) -> dict:
    """Efficiency table (memorising vs generalising) over dataset sizes and the D_crit estimate."""
    data = MODULAR_ADDITION.build(config.p, config.train_fraction, config.seed)
    # All P^2 pairs with their true labels: subsets of any size for the generalising model.
    everything = MODULAR_ADDITION.build(config.p, 1 - 1 / config.p**2, config.seed)
    general = _generalising_model(config, data, run)
    rows = []
    for fraction in config.dataset_fractions:
        size = round(fraction * config.p**2)
        noisy = random_labels(everything, size, config.seed)
        memoriser, _ = train_grokking(config, noisy, None)
        mem = logit_efficiency(memoriser, noisy.train_inputs, noisy.train_labels)
        subset = everything.train_subset(size, seed=config.seed)
        gen = logit_efficiency(general, subset.train_inputs, subset.train_labels)
        rows.append(
            {
                "train_size": size,
                "fraction": fraction,
                **{f"mem_{k}": v for k, v in mem.items()},
                **{f"gen_{k}": v for k, v in gen.items()},
            }
        )
    table = pd.DataFrame(rows)
    run.save_table("efficiency.parquet", table)
    table.to_csv(run.file("efficiency.csv"), index=False)
    sizes = table["train_size"].tolist()
    summary = {"p": config.p}
    for measure in ("param_norm", "efficiency"):
        general = float(table[f"gen_{measure}"].mean())
        d_crit = critical_size(sizes, table[f"mem_{measure}"].tolist(), general)
        summary[f"generalising_{measure}"] = general
        summary[f"d_crit_{measure}"] = d_crit
        title = f"{measure.replace('_', ' ')}, P={config.p}: " + (
            f"curves cross at D ~ {d_crit:.0f}" if d_crit else "no crossing"
        )
        fig = figures.series_plot(
            table, "train_size", [f"mem_{measure}", f"gen_{measure}"], title, logx=True
        )
        figures.save_figure(fig, run, measure)
    d_crit = summary["d_crit_param_norm"]
    summary |= {
        "d_crit": d_crit,
        "d_crit_fraction": d_crit / config.p**2 if d_crit else None,
        "table": rows,
    }
    run.save_json("summary.json", summary)
    return summary


def _generalising_model(config: EfficiencyConfig, data: TrainTestSplit, run: RunFolder):
    model = grokking_model(config.p, seed=config.seed)
    if config.from_checkpoint:
        trainer = Trainer(model, data, config.train_config(), logits_fn=last_position_logits)
        trainer.load_checkpoint(config.from_checkpoint)
        metrics = trainer.metrics()
    else:
        _, metrics = train_grokking(
            config, data, _checkpoint_dir(config, run), config.generalising_steps, model
        )
    run.update(metrics={"generalising_final_test_acc": float(metrics["test_acc"].iloc[-1])})
    return model
