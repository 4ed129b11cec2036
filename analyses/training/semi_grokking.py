"""Semi-grokking (Varma et al.): from-scratch runs at training sizes near D_crit.

Near D_crit the generalising and memorising circuits are about equally efficient, so the paper
predicts delayed generalisation to *partial* test accuracy: test accuracy rises late and then
plateaus mid-way. Each size trains from scratch under the paper's optimiser; its row records the
transition steps, the highest test accuracy, the mean test accuracy over the last 20% of steps
(the plateau), the parameter norm's peak and end, and the Fourier proxies at the end (with the
key frequencies of a grokked model when ``key_frequencies`` is given, else each run's own).

Example:
    >>> result = run_semi_grokking(SemiGrokkingConfig.preset("quick"))  # nothing written
    >>> list(result.table["train_size"])
    [48]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from mechcirc.analyses.training import figures
from mechcirc.analyses.training.fourier import proxies_over_training
from mechcirc.analyses.training.grokking import GrokkingConfig, train_grokking, transition
from mechcirc.config import require_range
from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder
from mechcirc.tasks.modular_addition import MODULAR_ADDITION

__all__ = ["SemiGrokkingConfig", "SemiGrokkingResult", "run_semi_grokking"]


@dataclass(frozen=True)
class SemiGrokkingConfig(GrokkingConfig):
    """From-scratch runs at each training fraction (near the critical size)."""

    # Varma et al.: semi-grokking at D = 1532 (12%, Fig. 6) and D ~ 2000 (Fig. 5), P = 113
    train_fractions: tuple[float, ...] = (0.12, 0.157)
    key_frequencies: tuple[int, ...] | None = None  # a grokked model's, for the proxies

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"steps": 50_000, "checkpoint_every": None},
        "p47": {
            "p": 47,
            "steps": 6000,
            "eval_every": 50,
            "train_fractions": [0.12, 0.18],
            "float64_loss": False,  # as the earlier results at P = 47 were trained
        },
        "quick": {
            "p": 11,
            "steps": 20,
            "eval_every": 10,
            "train_fractions": [0.4],
            "progress": False,
        },
    }

    def validate(self) -> None:
        super().validate()
        if not self.train_fractions:
            raise UsageError("train_fractions must list at least one fraction of P^2")
        for fraction in self.train_fractions:
            require_range("train_fractions[]", fraction, 0, 1, low_open=True, high_open=True)
        for k in self.key_frequencies or ():
            if not 1 <= k <= (self.p - 1) // 2:
                raise UsageError(f"key frequencies must be in 1..{(self.p - 1) // 2}, got {k}")


@dataclass
class SemiGrokkingResult:
    config: SemiGrokkingConfig
    table: pd.DataFrame  # one row per training size
    history: pd.DataFrame  # every run's metrics
    proxies: pd.DataFrame | None
    summary: dict[str, Any]

    def metrics(self) -> dict[str, Any]:
        return self.summary


def _row(fraction: float, n_train: int, history: pd.DataFrame, proxies) -> dict:
    steps = history["step"]
    tail = history[steps >= steps.iloc[-1] * 0.8]
    row = {
        "train_size": n_train,
        "fraction": fraction,
        "steps": int(steps.iloc[-1]),
        **transition(history),
        "test_acc_max": float(history["test_acc"].max()),
        "test_acc_last_20pct": float(tail["test_acc"].mean()),
        "param_norm_max": float(history["param_norm"].max()),
        "param_norm_final": float(history["param_norm"].iloc[-1]),
    }
    if proxies is not None:
        last = proxies.iloc[-1]
        row |= {k: float(last[k]) for k in ("c_gen", "c_mem", "test_residual", "key_share")}
    return row


def run_semi_grokking(
    config: SemiGrokkingConfig, run: RunFolder | None = None
) -> SemiGrokkingResult:
    """Train from scratch at each fraction; partial, late test accuracy is semi-grokking."""
    histories, proxy_tables, rows = [], [], []
    keys = list(config.key_frequencies) if config.key_frequencies else None
    for fraction in config.train_fractions:
        data = MODULAR_ADDITION.build(config.p, fraction, config.seed)
        _, history = train_grokking(config.replace(train_fraction=fraction), data)
        label = f"D={data.n_train}"
        proxies, used = None, []
        if config.fourier:
            proxies, used = proxies_over_training(history, config.p, keys)
            proxy_tables.append(proxies.assign(train_size=data.n_train, size=label))
        histories.append(history.assign(train_size=data.n_train, size=label))
        rows.append(_row(fraction, data.n_train, history, proxies) | {"key_frequencies": used})
    history = pd.concat(histories, ignore_index=True)
    proxies = pd.concat(proxy_tables, ignore_index=True) if proxy_tables else None
    table = pd.DataFrame(rows)
    summary = {"p": config.p, "seed": config.seed, "key_frequencies": keys, "runs": rows}
    result = SemiGrokkingResult(config, table, history, proxies, summary)
    if run is not None:
        _write(result, run)
    return result


def _write(result: SemiGrokkingResult, run: RunFolder) -> None:
    config = result.config
    run.save_table("metrics.parquet", result.history)
    run.save_table("semi_grokking.parquet", result.table)
    title = f"Training sizes near D_crit, P={config.p}, wd={config.weight_decay:g}"
    figures.save_figure(
        figures.accuracy_curves(result.history, group="size", title=title, logx=True),
        run,
        "accuracy",
    )
    if result.proxies is not None:
        run.save_table("proxies.parquet", result.proxies)
        for (size, rows), keys in zip(
            result.proxies.groupby("size", sort=False),
            result.table["key_frequencies"],
            strict=True,
        ):
            fig = figures.proxy_curves(rows, list(keys), f"{title}: {size}")
            figures.save_figure(fig, run, f"circuits_{size.replace('=', '')}")
    run.save_json("summary.json", result.summary)
