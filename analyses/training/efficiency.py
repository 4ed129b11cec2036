"""Circuit efficiency per dataset size D and the critical size D_crit (Varma et al.).

Both kinds of solution are trained *per dataset size D*, under the paper's optimiser and one
weight decay:

- **memorising**: from scratch on D pairs with labels drawn at random (only memorisation can fit
  them), ``memorising_steps`` steps; ``norm_drift`` (relative change of the parameter norm over
  the last 20% of steps) shows whether the norm has converged. Its ``C_mem`` is its whole
  correct logit (its labels are random); ``C_gen`` is the key-frequency logit it still gives
  the true sums (about zero);
- **generalising**: the grokked model trained further on D pairs with their true labels
  (:mod:`~mechcirc.analyses.training.ungrokking`); above D_crit it stays generalising and its
  norm settles where the generalising circuit balances weight decay on D pairs. An ungrokking run
  of the same settings can be reused (``ungrokking_run``) instead of training these again.

Per solution: the parameter norm it settles at, the mean centred correct-class logit on its
training pairs, their ratio (logit per unit norm: the logit-based efficiency), train and test
accuracy and the Fourier ``C_gen`` / ``C_mem`` proxies (key frequencies of the grokked model).

Two D_crit estimates, each where the memorising curve crosses the generalising value (the mean
over the sizes where the generalising solution kept test accuracy > 0.9; linear interpolation in
log D): the **parameter-norm view** (the memorising norm grows with D, the generalising one does
not) and the **logit efficiency**. Logits are not homogeneous of degree 1 in the parameters, so
the ratio compares solutions at different logit scales; both are reported. Each also as the
crossing of the two curves (``d_crit_<measure>_curves``, :func:`curves_crossing`): below D_crit
the "generalising" solution partly ungroks, so its curve bends towards the memorising one.

Example:
    >>> result = run_efficiency(EfficiencyConfig.preset("quick"))  # nothing written
    >>> sorted(set(result.table["train_size"]))
    [24, 60]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import torch

from mechcirc.analyses.training import figures
from mechcirc.analyses.training.grokking import train_grokking
from mechcirc.analyses.training.ungrokking import (
    UngrokkingConfig,
    critical_size,
    run_ungrokking,
    solution_row,
)
from mechcirc.config import require_positive_int
from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder, read_manifest
from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.modular_addition import MODULAR_ADDITION

__all__ = [
    "EfficiencyConfig",
    "EfficiencyResult",
    "curves_crossing",
    "random_labels",
    "run_efficiency",
]

GENERALISING_TEST_ACC = 0.9


@dataclass(frozen=True)
class EfficiencyConfig(UngrokkingConfig):
    """``subset_fractions`` are the dataset sizes D (fractions of P^2) of both solutions;
    ``continue_steps`` trains each generalising solution, ``memorising_steps`` each memoriser."""

    memorising_steps: int = 10_000
    ungrokking_run: str | None = None  # reuse this ungrokking run's generalising solutions

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "p47": {
            **UngrokkingConfig.PRESETS["p47"],
            "subset_fractions": [0.03, 0.05, 0.1, 0.2, 0.3, 0.4],
            "memorising_steps": 1500,
        },
        "quick": {
            **UngrokkingConfig.PRESETS["quick"],
            "subset_fractions": [0.2, 0.5],
            "memorising_steps": 20,
        },
    }

    def validate(self) -> None:
        super().validate()
        require_positive_int("memorising_steps", self.memorising_steps)

    def ungrokking(self) -> UngrokkingConfig:
        fields = {k: v for k, v in self.to_dict().items() if k in UngrokkingConfig().to_dict()}
        return UngrokkingConfig.from_dict(fields)


def random_labels(data: TrainTestSplit, size: int, seed: int) -> TrainTestSplit:
    """``size`` training pairs with labels drawn uniformly at random (memorisation only)."""
    subset = data.train_subset(size, seed=seed)
    generator = torch.Generator().manual_seed(seed + 7)
    labels = torch.randint(data.n_classes, (size,), generator=generator)
    return replace(subset, train_labels=labels, meta={**subset.meta, "labels": "random"})


@dataclass
class EfficiencyResult:
    config: EfficiencyConfig
    table: pd.DataFrame  # one row per (D, solution)
    memorising_history: pd.DataFrame
    summary: dict[str, Any]

    def metrics(self) -> dict[str, Any]:
        return self.summary


def memorisers(config: EfficiencyConfig, keys: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A from-scratch model on D random-label pairs per size: its row and its metrics."""
    everything = MODULAR_ADDITION.build(config.p, 1 - 1 / config.p**2, config.seed)
    rows, histories = [], []
    for fraction in config.subset_fractions:
        size = round(fraction * config.p**2)
        noisy = random_labels(everything, size, config.seed)
        model, history = train_grokking(config, noisy, steps=config.memorising_steps)
        histories.append(history.assign(train_size=size, size=f"D={size}"))
        row = solution_row(model, noisy, history, keys, config.p)
        if "c_mem" in row:  # its labels are random: all of its correct logit is memorisation
            row["c_mem"] = row["correct_logit"]
            del row["test_residual"]
        rows.append({"train_size": size, "fraction": fraction, "solution": "memorising", **row})
    return pd.DataFrame(rows), pd.concat(histories, ignore_index=True)


def generalisers(config: EfficiencyConfig) -> tuple[pd.DataFrame, list[int]]:
    """The generalising solution per D: from ``ungrokking_run`` or trained here."""
    if config.ungrokking_run is None:
        result = run_ungrokking(config.ungrokking())
        return result.table.assign(solution="generalising"), result.key_frequencies
    folder = Path(config.ungrokking_run)
    recorded = UngrokkingConfig.from_dict(read_manifest(folder)["config"])
    wanted = config.ungrokking()
    differing = [
        key
        for key, value in wanted.to_dict().items()
        if key not in ("progress", "save_checkpoints") and recorded.to_dict()[key] != value
    ]
    if differing:
        raise UsageError(
            f"ungrokking_run {folder} was run with other settings ({', '.join(differing)}); "
            "pass the same settings or leave ungrokking_run unset"
        )
    table = pd.read_parquet(folder / "ungrokking.parquet").assign(solution="generalising")
    summary = json.loads((folder / "summary.json").read_text())
    return table, list(summary["key_frequencies"])


def run_efficiency(config: EfficiencyConfig, run: RunFolder | None = None) -> EfficiencyResult:
    """Efficiency table (memorising vs generalising per D) and the two D_crit estimates."""
    general, keys = generalisers(config)
    memorising, history = memorisers(config, keys)
    table = pd.concat([memorising, general], ignore_index=True)
    table = table[sorted(table.columns, key=_order)]
    summary = _summarise(config, table, keys)
    result = EfficiencyResult(config, table, history, summary)
    if run is not None:
        _write(result, run)
    return result


def _order(column: str) -> tuple[int, str]:
    first = ["train_size", "fraction", "solution", "test_acc", "train_acc", "param_norm"]
    return (first.index(column), "") if column in first else (len(first), column)


def _summarise(config: EfficiencyConfig, table: pd.DataFrame, keys: list[int]) -> dict:
    memorising = table[table["solution"] == "memorising"].sort_values("train_size")
    general = table[table["solution"] == "generalising"]
    kept = general[general["test_acc"] > GENERALISING_TEST_ACC]
    summary: dict[str, Any] = {
        "p": config.p,
        "seed": config.seed,
        "weight_decay": config.weight_decay,
        "key_frequencies": keys,
        "generalising_sizes_kept": kept["train_size"].tolist(),
        "memorising_norm_drift_max": float(memorising["norm_drift"].max()),
    }
    sizes = memorising["train_size"].tolist()
    for measure in ("param_norm", "efficiency"):
        reference = float(kept[measure].mean()) if len(kept) else None
        crossing = None
        if reference is not None:
            crossing = critical_size(sizes, memorising[measure].tolist(), reference)
        summary[f"generalising_{measure}"] = reference
        summary[f"d_crit_{measure}"] = crossing
        summary[f"d_crit_{measure}_curves"] = curves_crossing(table, measure)
    summary["d_crit_ungrokking"] = critical_size(
        general.sort_values("train_size")["train_size"].tolist(),
        general.sort_values("train_size")["test_acc"].tolist(),
        0.5,
    )
    summary["table"] = table.to_dict("records")
    return summary


def curves_crossing(table: pd.DataFrame, measure: str) -> float | None:
    """The first D where the memorising and generalising values of ``measure`` cross (their
    difference changes sign between two sizes; linear in log D), or None.

    >>> table = pd.DataFrame({"train_size": [100, 400] * 2, "param_norm": [24, 32, 30, 30],
    ...                       "solution": ["memorising"] * 2 + ["generalising"] * 2})
    >>> round(curves_crossing(table, "param_norm"))  # difference -6 -> +2: 3/4 of the way in log D
    283
    """
    missing = sorted({"train_size", "solution", measure} - set(table.columns))
    if missing:
        raise UsageError(
            f"curves_crossing needs columns train_size, solution and {measure}; missing {missing}"
        )
    solutions = sorted(set(table["solution"]))
    if not {"memorising", "generalising"} <= set(solutions):
        raise UsageError(
            "curves_crossing needs rows of both solutions, memorising and generalising; "
            f"the table has {solutions}"
        )
    wide = table.pivot_table(index="train_size", columns="solution", values=measure).dropna()
    difference = wide["memorising"] - wide["generalising"]
    return critical_size(wide.index.tolist(), difference.tolist(), 0.0)


def _write(result: EfficiencyResult, run: RunFolder) -> None:
    table, summary, config = result.table, result.summary, result.config
    run.save_table("efficiency.parquet", table)
    table.to_csv(run.file("efficiency.csv"), index=False)
    run.save_table("memorising_metrics.parquet", result.memorising_history)
    measures = [m for m in _MEASURES if m in table]
    wide = table.pivot_table(index="train_size", columns="solution", values=measures)
    wide.columns = [f"{solution}_{measure}" for measure, solution in wide.columns]
    wide = wide.reset_index()
    for measure in ("param_norm", "efficiency"):
        crossing, curves = summary[f"d_crit_{measure}"], summary[f"d_crit_{measure}_curves"]
        title = f"{measure.replace('_', ' ')}, P={config.p}, wd={config.weight_decay:g}: " + (
            f"generalising level crossed at D ~ {crossing:.0f}" if crossing else "level not crossed"
        )
        title += f"; curves cross at D ~ {curves:.0f}" if curves else "; curves do not cross"
        ys = [f"{s}_{measure}" for s in ("memorising", "generalising") if f"{s}_{measure}" in wide]
        fig = figures.series_plot(wide, "train_size", ys, title, logx=True)
        figures.save_figure(fig, run, measure)
    title = f"Memorising solutions (random labels), P={config.p}: parameter norm over training"
    fig = figures.series_plot_by(result.memorising_history, "step", "param_norm", "size", title)
    figures.save_figure(fig, run, "memorising_norm")
    run.save_json("summary.json", summary)


_MEASURES = ["param_norm", "efficiency", "correct_logit", "test_acc", "c_gen", "c_mem"]
