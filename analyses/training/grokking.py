"""Grokking on modular addition (Varma et al., after Nanda et al.): one run, and the grokked model.

Setup as in the papers: the one-layer transformer of :mod:`mechcirc.toys.grokking`, full-batch
AdamW, lr 1e-3, betas (0.9, 0.98), weight decay 1.0, P = 113 with 30% of the ``P^2`` pairs for
training (preset ``paper``, the default). Preset ``p47`` is the smaller setting of earlier
results (P = 47, half the pairs, 4000 steps: minutes on one CPU core); ``quick`` checks the
mechanics in seconds.

:func:`run_grokking` trains one model and reports when train accuracy passed 0.99, when test
accuracy passed 0.95 and the delay between them; with ``fourier`` it records the logits'
Fourier spectrum at every evaluation and reports the ``C_gen`` / ``C_mem`` proxies
(:mod:`~mechcirc.analyses.training.fourier`) over training beside the parameter norm.
:func:`grokked_model` is the one load-or-train step the ungrokking and efficiency experiments
share.

Example:
    >>> result = run_grokking(GrokkingConfig.preset("quick"))  # nothing written
    >>> sorted(result.metrics())[:3]
    ['delay_steps', 'final_test_acc', 'final_train_acc']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from torch import nn

from mechcirc.analyses.training import figures
from mechcirc.analyses.training.fourier import FourierProbe, proxies_over_training
from mechcirc.checkpoints import load_checkpoint
from mechcirc.config import Config, require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.models.summary import describe_model
from mechcirc.runs import RunFolder
from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.modular_addition import MODULAR_ADDITION, is_prime
from mechcirc.toys.grokking import grokking_model, last_position_logits
from mechcirc.training import (
    CHECKPOINT_FILE,
    TrainConfig,
    Trainer,
    load_parameters,
    resume_problem,
)

__all__ = [
    "GrokkingConfig",
    "GrokkingResult",
    "TEST_SOLVED",
    "TRAIN_SOLVED",
    "checkpoint_path",
    "grokked_model",
    "run_grokking",
    "train_grokking",
    "transition",
]

logger = logging.getLogger(__name__)

TRAIN_SOLVED, TEST_SOLVED = 0.99, 0.95


@dataclass(frozen=True)
class GrokkingConfig(Config):
    """One grokking run: data, the paper's optimiser, budget and what is recorded.

    ``stop_after_solved``: stop that many steps after test accuracy first passed 0.95 (None:
    train all ``steps``). ``fourier``: record the logits' Fourier spectrum at each evaluation.
    ``float64_loss``: compute the softmax and loss in float64, as Nanda et al.'s grokking code
    does: in float32 a memorised training set drives the loss to ~1e-7, where rounding makes the
    loss spike and the norm oscillate (seen here at P = 113).
    """

    p: int = 113
    train_fraction: float = 0.3
    steps: int = 20_000
    eval_every: int = 100
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta2: float = 0.98
    seed: int = 0
    stop_after_solved: int | None = None
    checkpoint_every: int | None = 1000
    save_checkpoints: bool = True
    fourier: bool = True
    float64_loss: bool = True
    progress: bool = True

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "p47": {
            "p": 47,
            "train_fraction": 0.5,
            "steps": 4000,
            "eval_every": 50,
            "float64_loss": False,  # as the earlier results at P = 47 were trained
        },
        "quick": {"p": 11, "train_fraction": 0.5, "steps": 30, "eval_every": 10, "progress": False},
    }

    def validate(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, int) or not is_prime(self.p):
            raise UsageError(f"p must be a prime number (e.g. 47, 113), got {self.p!r}")
        if self.fourier and self.p < 3:
            raise UsageError("fourier needs an odd prime p >= 3; pass fourier=false for p=2")
        require_range("train_fraction", self.train_fraction, 0, 1, low_open=True, high_open=True)
        require_positive_int("eval_every", self.eval_every)
        require_positive_int("stop_after_solved", self.stop_after_solved, allow_none=True)
        require_range("beta2", self.beta2, 0, 1, high_open=True)
        self.train_config()  # lr, weight decay and steps are checked there

    def train_config(self, steps: int | None = None) -> TrainConfig:
        return TrainConfig(
            steps=self.steps if steps is None else steps,
            lr=self.lr,
            optimizer="adamw",
            weight_decay=self.weight_decay,
            betas=(0.9, self.beta2),
            eval_every=self.eval_every,
            checkpoint_every=self.checkpoint_every,
            seed=self.seed,
            progress=self.progress,
            loss_dtype="float64" if self.float64_loss else "float32",
        )

    def data(self) -> TrainTestSplit:
        return MODULAR_ADDITION.build(self.p, self.train_fraction, self.seed)


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


def solved_for(rows: list[dict], steps: int) -> bool:
    """Whether test accuracy passed 0.95 at least ``steps`` steps before the last row."""
    first = next((row["step"] for row in rows if row.get("test_acc", 0) > TEST_SOLVED), None)
    return first is not None and rows[-1]["step"] - first >= steps


def train_grokking(
    config: GrokkingConfig,
    data: TrainTestSplit,
    *,
    model: nn.Module | None = None,
    steps: int | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train (or continue training ``model``) on ``data`` under the paper's optimiser; with
    ``config.fourier`` every evaluation also records the Fourier probe (C_mem is read on
    ``data``'s training pairs)."""
    model = model if model is not None else grokking_model(config.p, seed=config.seed)
    probe = FourierProbe(config.p, data.train_inputs, last_position_logits)
    probes = [probe] if config.fourier else []
    trainer = Trainer(
        model,
        data,
        config.train_config(steps),
        logits_fn=last_position_logits,
        checkpoint=checkpoint,
        probes=probes,
    )
    if resume:
        trainer.load_checkpoint(checkpoint)
    stop = None
    if config.stop_after_solved is not None:
        stop = lambda rows: solved_for(rows, config.stop_after_solved)  # noqa: E731
    return model, trainer.fit(stop_when=stop)


@dataclass
class GrokkingResult:
    """What :func:`run_grokking` found: the trained model, its metrics and the summary."""

    config: GrokkingConfig
    model: nn.Module
    data: TrainTestSplit
    history: pd.DataFrame  # one row per evaluation
    proxies: pd.DataFrame | None  # C_gen / C_mem proxies per evaluation (fourier runs)
    key_frequencies: list[int]
    summary: dict[str, Any]

    def metrics(self) -> dict[str, Any]:
        return self.summary


def run_grokking(
    config: GrokkingConfig, run: RunFolder | None = None, *, resume: bool = False
) -> GrokkingResult:
    """One grokking run; with ``run``: metrics, checkpoint, figures and ``summary.json``.

    ``resume`` continues the checkpoint in ``run`` (a longer ``steps`` continues a finished
    run); the checkpoint must come from the same data.
    """
    data = config.data()
    checkpoint = checkpoint_path(config, run)
    if resume and (checkpoint is None or resume_problem(checkpoint, data)):
        raise UsageError(
            resume_problem(checkpoint, data) if checkpoint else "resume needs a run folder"
        )
    model, history = train_grokking(config, data, checkpoint=checkpoint, resume=resume)
    proxies, keys = None, []
    if config.fourier:
        proxies, keys = proxies_over_training(history, config.p)
    summary = {
        "p": config.p,
        "seed": config.seed,
        "n_train": data.n_train,
        "n_test": data.n_test,
        "steps_run": int(history["step"].iloc[-1]),
        **transition(history),
        "final_param_norm": float(history["param_norm"].iloc[-1]),
        "key_frequencies": keys,
    }
    if proxies is not None:
        summary |= {f"final_{k}": float(proxies[k].iloc[-1]) for k in ("c_gen", "c_mem")}
    result = GrokkingResult(config, model, data, history, proxies, keys, summary)
    if run is not None:
        write_grokking(result, run)
    return result


def checkpoint_path(config: GrokkingConfig, run: RunFolder | None) -> Path | None:
    """The run's checkpoint file (listed in its manifest), or None (no run, or not saved)."""
    if run is None or not config.save_checkpoints:
        return None
    return run.file(CHECKPOINT_FILE)


def write_grokking(result: GrokkingResult, run: RunFolder) -> None:
    summary, history = result.summary, result.history
    run.update(model=describe_model(result.model, toy="grokking", p=summary["p"]))
    run.save_table("metrics.parquet", history)
    labels = {"step_train_acc_0.99": "train 0.99", "step_test_acc_0.95": "test 0.95"}
    marks = [(summary[key], label) for key, label in labels.items() if summary[key] is not None]
    title = (
        f"Grokking: a + b mod {summary['p']}, {summary['n_train']} training pairs, "
        f"seed {summary['seed']}"
    )
    frame = history.assign(run="grokking")
    figures.save_figure(
        figures.accuracy_curves(frame, group="run", title=title, vlines=marks), run, "accuracy"
    )
    if result.proxies is not None:
        run.save_table("proxies.parquet", result.proxies)
        figures.save_figure(
            figures.proxy_curves(result.proxies, result.key_frequencies, title), run, "circuits"
        )
    run.save_json("summary.json", summary)


def grokked_model(
    config: GrokkingConfig, source: str | None = None
) -> tuple[nn.Module, TrainTestSplit, pd.DataFrame]:
    """A grokked model, its training data and its training metrics.

    ``source``: a grokking run folder or checkpoint file to load (its own data settings are
    used, so subsets come from the pairs it was trained on); None trains one under ``config``
    (nothing written).
    """
    if source is None:
        result = run_grokking(config)
        return result.model, result.data, result.history
    path = Path(source)
    path = path / CHECKPOINT_FILE if path.is_dir() else path
    checkpoint = load_checkpoint(path)
    meta = checkpoint.metadata.get("data") or {}
    if meta.get("task") != MODULAR_ADDITION.name or meta.get("p") != config.p:
        raise UsageError(
            f"{path} holds a model trained on {meta or 'unknown data'}; expected modular "
            f"addition with p={config.p}"
        )
    model = grokking_model(config.p, seed=config.seed)
    load_parameters(model.original_model, checkpoint.model)
    data = MODULAR_ADDITION.build(meta["p"], meta["train_fraction"], meta["seed"])
    return model, data, pd.DataFrame(checkpoint.metadata.get("metrics", []))
