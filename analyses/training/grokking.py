"""Grokking, ungrokking and semi-grokking on modular addition (Varma et al., after Nanda et al.).

Setup as in the paper: the one-layer transformer of :mod:`mechcirc.toys.grokking`, full-batch
AdamW, lr 1e-3, betas (0.9, 0.98), weight decay 1.0. The paper used P = 113 (12,769 pairs);
the defaults here use a smaller prime so each experiment fits in minutes on a 2-core CPU
(see ``README``), and ``--set p=113`` restores the paper's scale.

- ``run_grokking``: one run; reports when train accuracy passed 0.99, when test accuracy passed
  0.95 and the delay between them.
- ``run_ungrokking``: a grokked model (trained on a large set, or loaded from a grokking run's
  checkpoint) trained further on smaller subsets of its training set; test accuracy on the
  never-seen pairs collapses when the subset is below the critical size.
- ``run_semi_grokking``: from-scratch runs at training sizes near the critical size, where
  test accuracy rises late but only partially.

Example:
    >>> summary = run_grokking(GrokkingConfig.quick(), run)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from mechcirc.analyses.training import figures
from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder
from mechcirc.tasks.modular_addition import MODULAR_ADDITION, TrainTestSplit
from mechcirc.toys.grokking import grokking_model, last_position_logits
from mechcirc.training import CHECKPOINT_FILE, TrainConfig, Trainer

logger = logging.getLogger(__name__)

TRAIN_SOLVED, TEST_SOLVED = 0.99, 0.95


@dataclass
class GrokkingConfig:
    p: int = 47
    train_fraction: float = 0.5
    steps: int = 4000
    eval_every: int = 50
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta2: float = 0.98
    seed: int = 0
    checkpoint_dir: str | None = None  # default: <run>/checkpoint
    save_checkpoints: bool = True
    progress: bool = True

    @classmethod
    def quick(cls) -> GrokkingConfig:
        return cls(p=11, train_fraction=0.5, steps=30, eval_every=10, progress=False)

    def to_dict(self) -> dict:
        return asdict(self)

    def train_config(self, steps: int | None = None) -> TrainConfig:
        return TrainConfig(
            steps=self.steps if steps is None else steps,
            lr=self.lr,
            optimizer="adamw",
            weight_decay=self.weight_decay,
            betas=(0.9, self.beta2),
            eval_every=self.eval_every,
            seed=self.seed,
            progress=self.progress,
        )


def transition(metrics: pd.DataFrame) -> dict:
    """First steps with train acc >= 0.99 and test acc > 0.95, and the test acc in between."""
    train_hit = metrics[metrics["train_acc"] >= TRAIN_SOLVED]
    test_hit = metrics[metrics["test_acc"] > TEST_SOLVED]
    step_train = int(train_hit["step"].iloc[0]) if len(train_hit) else None
    step_test = int(test_hit["step"].iloc[0]) if len(test_hit) else None
    test_at_train = float(train_hit["test_acc"].iloc[0]) if len(train_hit) else None
    delay = step_test - step_train if step_train is not None and step_test is not None else None
    return {
        "step_train_acc_0.99": step_train,
        "test_acc_when_train_acc_0.99": test_at_train,
        "step_test_acc_0.95": step_test,
        "delay_steps": delay,
        "final_train_acc": float(metrics["train_acc"].iloc[-1]),
        "final_test_acc": float(metrics["test_acc"].iloc[-1]),
        "grokked": bool(delay is not None and delay > 0 and (test_at_train or 0) < 0.3),
    }


def train_grokking(
    config: GrokkingConfig,
    data: TrainTestSplit,
    out_dir: Path | None,
    steps: int | None = None,
    model=None,
) -> tuple[object, pd.DataFrame]:
    """Train (or continue training ``model``) on ``data`` under the paper's optimiser.

    A checkpoint already in ``out_dir`` (same data) is resumed: a longer ``steps`` continues a
    finished run, and an interrupted run picks up where it stopped.
    """
    model = model if model is not None else grokking_model(config.p, seed=config.seed)
    trainer = Trainer(
        model, data, config.train_config(steps), logits_fn=last_position_logits, out_dir=out_dir
    )
    if out_dir is not None and (Path(out_dir) / CHECKPOINT_FILE).is_file():
        trainer.load_checkpoint(out_dir)
    return model, trainer.fit()


def run_grokking(config: GrokkingConfig, run: RunFolder) -> dict:
    """One grokking run: metrics, checkpoint, accuracy and norm figures, transition summary."""
    data = MODULAR_ADDITION.build(config.p, config.train_fraction, config.seed)
    _, metrics = train_grokking(config, data, _checkpoint_dir(config, run))
    run.save_table("metrics.parquet", metrics)
    summary = {"p": config.p, "n_train": data.n_train, "n_test": data.n_test, **transition(metrics)}
    marks = [
        (summary[key], label)
        for key, label in (
            ("step_train_acc_0.99", "train 0.99"),
            ("step_test_acc_0.95", "test 0.95"),
        )
        if summary[key] is not None
    ]
    title = f"Grokking: a + b mod {config.p}, {data.n_train} training pairs"
    figures.save_figure(
        figures.accuracy_curves(
            metrics.assign(run="grokking"), group="run", title=title, vlines=marks
        ),
        run,
        "accuracy",
    )
    figures.save_figure(
        figures.series_plot(metrics, "step", ["param_norm"], "parameter norm during grokking"),
        run,
        "param_norm",
    )
    run.save_json("summary.json", summary)
    return summary


def _checkpoint_dir(config, run: RunFolder) -> Path | None:
    if not config.save_checkpoints:
        return None
    return Path(config.checkpoint_dir) if config.checkpoint_dir else run.path / "checkpoint"


@dataclass
class UngrokkingConfig(GrokkingConfig):
    """Grok on ``train_fraction`` for ``steps``, then train further on each subset size."""

    subset_fractions: tuple[float, ...] = (0.1, 0.2, 0.3)  # of all P^2 pairs
    continue_steps: int = 2000
    from_checkpoint: str | None = None  # a grokking run's checkpoint folder (same p)

    @classmethod
    def quick(cls) -> UngrokkingConfig:
        return cls(
            p=11,
            train_fraction=0.6,
            steps=20,
            eval_every=10,
            subset_fractions=(0.2,),
            continue_steps=20,
            progress=False,
        )


def run_ungrokking(config: UngrokkingConfig, run: RunFolder) -> dict:
    """Continue a grokked model on smaller training sets; test accuracy per subset over steps."""
    data = MODULAR_ADDITION.build(config.p, config.train_fraction, config.seed)
    grokked = _grokked_state(config, data, run)
    tables, rows = [], []
    for fraction in config.subset_fractions:
        size = round(fraction * config.p**2)
        if not 1 <= size <= data.n_train:
            raise UsageError(
                f"subset fraction {fraction} gives {size} pairs; it must be between "
                f"1 and the {data.n_train} pairs of the grokking set"
            )
        model = grokking_model(config.p, seed=config.seed)
        model.original_model.load_state_dict(grokked)
        subset = data.train_subset(size, seed=config.seed)
        _, metrics = train_grokking(config, subset, None, config.continue_steps, model)
        tables.append(metrics.assign(train_size=size, subset=f"D={size} ({fraction:g} P^2)"))
        rows.append(
            {
                "train_size": size,
                "fraction": fraction,
                "test_acc_start": float(metrics["test_acc"].iloc[0]),
                "test_acc_final": float(metrics["test_acc"].iloc[-1]),
                "test_acc_min": float(metrics["test_acc"].min()),
                "train_acc_final": float(metrics["train_acc"].iloc[-1]),
            }
        )
    metrics = pd.concat(tables, ignore_index=True)
    run.save_table("metrics.parquet", metrics)
    table = pd.DataFrame(rows)
    run.save_table("ungrokking.parquet", table)
    title = f"Ungrokking: grokked model (D={data.n_train}) trained on smaller sets, P={config.p}"
    figures.save_figure(
        figures.accuracy_curves(metrics, group="subset", title=title), run, "accuracy"
    )
    summary = {
        "p": config.p,
        "grokked_on": data.n_train,
        "subsets": rows,
        "ungrokked": [
            r["train_size"]
            for r in rows
            if r["test_acc_start"] > TEST_SOLVED and r["test_acc_final"] < 0.5
        ],
    }
    run.save_json("summary.json", summary)
    return summary


def _grokked_state(config: UngrokkingConfig, data: TrainTestSplit, run: RunFolder) -> dict:
    """Weights of a grokked model: loaded from ``from_checkpoint`` or trained here."""
    model = grokking_model(config.p, seed=config.seed)
    if config.from_checkpoint:
        trainer = Trainer(model, data, config.train_config(), logits_fn=last_position_logits)
        trainer.load_checkpoint(config.from_checkpoint)
        first = trainer.metrics()
    else:
        _, first = train_grokking(config, data, _checkpoint_dir(config, run), model=model)
    run.save_table("grokking_metrics.parquet", first)
    run.update(metrics={"grokking_phase": transition(first)})
    return {k: v.detach().clone() for k, v in model.original_model.state_dict().items()}


@dataclass
class SemiGrokkingConfig(GrokkingConfig):
    """From-scratch runs at each training fraction (near the critical size)."""

    train_fractions: tuple[float, ...] = (0.12, 0.18)

    @classmethod
    def quick(cls) -> SemiGrokkingConfig:
        return cls(p=11, steps=20, eval_every=10, train_fractions=(0.4,), progress=False)


def run_semi_grokking(config: SemiGrokkingConfig, run: RunFolder) -> dict:
    """Train from scratch at each fraction; partial, late test accuracy is semi-grokking."""
    tables, rows = [], []
    for fraction in config.train_fractions:
        data = MODULAR_ADDITION.build(config.p, fraction, config.seed)
        _, metrics = train_grokking(replace(config, train_fraction=fraction), data, None)
        tables.append(metrics.assign(train_size=data.n_train, size=f"D={data.n_train}"))
        summary = transition(metrics)
        rows.append(
            {
                "train_size": data.n_train,
                "fraction": fraction,
                **summary,
                "test_acc_max": float(metrics["test_acc"].max()),
            }
        )
    metrics = pd.concat(tables, ignore_index=True)
    run.save_table("metrics.parquet", metrics)
    run.save_table("semi_grokking.parquet", pd.DataFrame(rows))
    title = f"Training sizes near D_crit, P={config.p}"
    figures.save_figure(
        figures.accuracy_curves(metrics, group="size", title=title), run, "accuracy"
    )
    summary = {"p": config.p, "runs": rows}
    run.save_json("summary.json", summary)
    return summary
