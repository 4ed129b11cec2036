"""Ungrokking (Varma et al.): a grokked model trained further on a smaller training set.

Below the critical dataset size D_crit the memorising circuit is the more efficient one, so
weight decay reallocates the parameter norm from the generalising circuit to memorisation and
test accuracy on the never-seen pairs collapses; above D_crit the model stays generalising and
its parameter norm settles where the generalising circuit balances weight decay on D pairs.

For each subset size D (a fraction of all ``P^2`` pairs, drawn from the grokked model's own
training pairs) the grokked model is trained ``continue_steps`` more steps with the paper's
optimiser at ``weight_decay``. Each subset's row records test accuracy before / lowest / after,
the final parameter norm and how much it still moved over the last 20% of steps, the logit
efficiency and the Fourier proxies (key frequencies of the grokked model). D_crit is where the
final test accuracy crosses 0.5 (log-linear interpolation between the bracketing sizes).

Example:
    >>> result = run_ungrokking(UngrokkingConfig.preset("quick"))  # nothing written
    >>> list(result.table["train_size"])
    [24]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
import torch
from jaxtyping import Int
from torch import Tensor, nn

from mechcirc.analyses.training import figures
from mechcirc.analyses.training.fourier import (
    FourierProbe,
    circuit_proxies,
    key_frequencies,
    spectrum_of,
)
from mechcirc.analyses.training.grokking import GrokkingConfig, grokked_model, train_grokking
from mechcirc.config import require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder
from mechcirc.splits import TrainTestSplit
from mechcirc.toys.grokking import grokking_model, last_position_logits
from mechcirc.training import parameter_norm

__all__ = [
    "UngrokkingConfig",
    "UngrokkingResult",
    "critical_size",
    "logit_efficiency",
    "norm_drift",
    "run_ungrokking",
    "solution_row",
]


@dataclass(frozen=True)
class UngrokkingConfig(GrokkingConfig):
    """Grok (or load ``from_checkpoint``), then train further on each subset size.

    ``steps`` is the grokking phase when the model is trained here; ``weight_decay`` applies to
    both phases (a loaded model keeps the weight decay it grokked under).
    """

    # Varma et al. (Fig. 7): 7 geometrically spaced sizes in [390, 1494] at P = 113, 100k steps
    subset_fractions: tuple[float, ...] = (0.0305, 0.0382, 0.0477, 0.0597, 0.0746, 0.0933, 0.117)
    continue_steps: int = 100_000
    from_checkpoint: str | None = None  # a grokking run folder or checkpoint file (same p)
    key_share: float = 0.9

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "p47": {
            **GrokkingConfig.PRESETS["p47"],
            "subset_fractions": [0.05, 0.1, 0.2],
            "continue_steps": 4000,
        },
        "quick": {
            "p": 11,
            "train_fraction": 0.6,
            "steps": 20,
            "eval_every": 10,
            "subset_fractions": [0.2],
            "continue_steps": 20,
            "progress": False,
        },
    }

    def validate(self) -> None:
        super().validate()
        require_positive_int("continue_steps", self.continue_steps)
        require_range("key_share", self.key_share, 0, 1, low_open=True)
        if not self.subset_fractions:
            raise UsageError("subset_fractions must list at least one fraction of P^2")
        for fraction in self.subset_fractions:
            require_range("subset_fractions[]", fraction, 0, 1, low_open=True)


def logit_efficiency(
    model: nn.Module,
    inputs: Int[Tensor, "n seq"],
    labels: Int[Tensor, " n"],
    logits_fn=last_position_logits,
) -> dict[str, float]:
    """Mean centred correct-class logit, parameter norm, their ratio (logit per unit norm),
    and accuracy of ``model`` on ``(inputs, labels)``."""
    with torch.no_grad():
        logits = logits_fn(model, inputs)
    centred = logits - logits.mean(-1, keepdim=True)
    correct = float(centred.gather(1, labels[:, None]).mean())
    norm = parameter_norm(getattr(model, "original_model", model))
    return {
        "correct_logit": correct,
        "param_norm": norm,
        "efficiency": correct / norm,
        "train_acc": float((logits.argmax(-1) == labels).float().mean()),
    }


def norm_drift(history: pd.DataFrame, tail: float = 0.2) -> float:
    """Relative change of the parameter norm over the last ``tail`` of the steps (|end-start|
    / end): near zero once the norm has converged."""
    steps = history["step"]
    start = history[steps >= steps.iloc[-1] - tail * (steps.iloc[-1] - steps.iloc[0])]
    first, last = float(start["param_norm"].iloc[0]), float(history["param_norm"].iloc[-1])
    return abs(last - first) / last


def solution_row(
    model: nn.Module,
    data: TrainTestSplit,
    history: pd.DataFrame,
    keys: list[int] | None,
    p: int,
) -> dict[str, float]:
    """One trained solution: efficiency on its training pairs, norm drift, test accuracy and
    (with ``keys`` and a Fourier-probed ``history``) the C_gen / C_mem proxies."""
    row = {
        **logit_efficiency(model, data.train_inputs, data.train_labels),
        "norm_drift": norm_drift(history),
        "test_acc": float(history["test_acc"].iloc[-1]),
    }
    if keys and "train_correct_logit" in history:
        last = history.iloc[-1]
        row |= circuit_proxies(
            spectrum_of(last, p),
            keys,
            train_correct=float(last["train_correct_logit"]),
            test_correct=float(last["test_correct_logit"]),
            mean_square=float(last["logit_mean_square"]),
        )
    return row


def critical_size(sizes: list[float], values: list[float], level: float) -> float | None:
    """The first D where ``values`` cross ``level`` between two sizes (linear in log D)."""
    points = list(zip(sizes, values, strict=True))
    for (d0, v0), (d1, v1) in zip(points, points[1:], strict=False):
        if (v0 - level) * (v1 - level) <= 0 and v0 != v1:
            share = (level - v0) / (v1 - v0)
            return math.exp(math.log(d0) + share * (math.log(d1) - math.log(d0)))
    return None


@dataclass
class UngrokkingResult:
    config: UngrokkingConfig
    table: pd.DataFrame  # one row per subset size
    history: pd.DataFrame  # every subset's metrics over the continued training
    grokking_history: pd.DataFrame
    key_frequencies: list[int]
    summary: dict[str, Any]

    def metrics(self) -> dict[str, Any]:
        return self.summary


def continue_on_subsets(
    config: UngrokkingConfig, state: dict[str, Tensor], data: TrainTestSplit, keys: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train a copy of the grokked weights on each subset size; the per-size table and the
    metrics of every continued run."""
    tables, rows = [], []
    for fraction in config.subset_fractions:
        size = round(fraction * config.p**2)
        if not 1 <= size <= data.n_train:
            raise UsageError(
                f"subset fraction {fraction} gives {size} pairs; it must be between "
                f"1 and the {data.n_train} pairs of the grokking set"
            )
        model = grokking_model(config.p, seed=config.seed)
        model.original_model.load_state_dict(state)
        subset = data.train_subset(size, seed=config.seed)
        _, history = train_grokking(config, subset, model=model, steps=config.continue_steps)
        tables.append(history.assign(train_size=size, subset=f"D={size} ({fraction:g} P^2)"))
        rows.append(
            {
                "train_size": size,
                "fraction": fraction,
                "weight_decay": config.weight_decay,
                "test_acc_start": float(history["test_acc"].iloc[0]),
                "test_acc_min": float(history["test_acc"].min()),
                **solution_row(model, subset, history, keys, config.p),
            }
        )
    return pd.DataFrame(rows), pd.concat(tables, ignore_index=True)


def run_ungrokking(config: UngrokkingConfig, run: RunFolder | None = None) -> UngrokkingResult:
    """Continue a grokked model on smaller training sets; test accuracy per subset over steps."""
    model, data, first = grokked_model(config, config.from_checkpoint)
    keys: list[int] = []
    if config.fourier:
        probe = FourierProbe(config.p, data.train_inputs, last_position_logits)
        keys = key_frequencies(spectrum_of(probe.of_model(model), config.p), config.key_share)
    state = {k: v.detach().clone() for k, v in model.original_model.state_dict().items()}
    table, history = continue_on_subsets(config, state, data, keys)
    sizes = table["train_size"].tolist()
    summary = {
        "p": config.p,
        "seed": config.seed,
        "weight_decay": config.weight_decay,
        "grokked_on": data.n_train,
        "grokked_test_acc": float(table["test_acc_start"].iloc[0]),
        "key_frequencies": keys,
        "continue_steps": config.continue_steps,
        "d_crit_test_acc_0.5": critical_size(sizes, table["test_acc"].tolist(), 0.5),
        "subsets": table.to_dict("records"),
    }
    result = UngrokkingResult(config, table, history, first, keys, summary)
    if run is not None:
        _write(result, run)
    return result


def _write(result: UngrokkingResult, run: RunFolder) -> None:
    run.save_table("metrics.parquet", result.history)
    run.save_table("ungrokking.parquet", result.table)
    if len(result.grokking_history):
        run.save_table("grokking_metrics.parquet", result.grokking_history)
    config = result.config
    title = (
        f"Ungrokking: grokked model (D={result.summary['grokked_on']}) trained on smaller sets, "
        f"P={config.p}, wd={config.weight_decay:g}, seed {config.seed}"
    )
    figures.save_figure(
        figures.accuracy_curves(result.history, group="subset", title=title, logx=True),
        run,
        "accuracy",
    )
    run.save_json("summary.json", result.summary)
