"""One training run of a toy model, as ``mechcirc train`` runs it: config, pipeline, result.

:class:`ToyTrainingConfig` names the toy model, its data and a nested
:class:`~mechcirc.training.TrainConfig`; its presets are the papers' settings,
taken from the experiments' own configs so the two never disagree: ``grokking`` is
:class:`~mechcirc.analyses.training.grokking.GrokkingConfig`'s default (P = 113, 30% of the
pairs, AdamW lr 1e-3, betas (0.9, 0.98), weight decay 1.0), ``cross-attention`` the curriculum's
model and optimiser (p = 4, T = 12, k = 5, n = 2048, d = 32, Adam lr 1e-3).

Example:
    >>> config = ToyTrainingConfig.preset("grokking", p=7, train=TrainConfig(steps=10))
    >>> run_training(config).history["step"].iloc[-1]  # doctest: +SKIP
    10
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pandas as pd
from torch import nn

from mechcirc.analyses.training import figures
from mechcirc.analyses.training.curriculum_setup import PAPER_LR, CurriculumConfig
from mechcirc.analyses.training.grokking import GrokkingConfig
from mechcirc.config import Config, require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.models.summary import describe_model
from mechcirc.runs import RunFolder
from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.modular_addition import MODULAR_ADDITION, is_prime
from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION
from mechcirc.toys.cross_attention import CrossAttentionConfig, HookedCrossAttention
from mechcirc.toys.grokking import grokking_model, last_position_logits
from mechcirc.training import (
    CHECKPOINT_FILE,
    TrainConfig,
    Trainer,
    default_logits,
    resume_problem,
)

__all__ = ["ToyTrainingConfig", "TrainingResult", "run_training"]

_GROKKING = GrokkingConfig()
_CURRICULUM = CurriculumConfig()


@dataclass(frozen=True)
class ToyTrainingConfig(Config):
    """Which toy, its data and optimisation. Grokking uses ``p`` and ``train_fraction``;
    cross-attention uses ``p``, ``seq_len``, ``k``, ``n_train``, ``d_model``, ``mlp_residual``."""

    model: Literal["cross-attention", "grokking"] = "grokking"
    p: int = _GROKKING.p
    train_fraction: float = _GROKKING.train_fraction
    seq_len: int = _CURRICULUM.seq_len
    k: int = _CURRICULUM.k
    n_train: int = _CURRICULUM.n_train
    d_model: int = _CURRICULUM.d_model
    mlp_residual: Literal["z_A", "normed"] = _CURRICULUM.mlp_residual
    train: TrainConfig = _GROKKING.train_config()  # its seed seeds the data and the model too

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "grokking": {"model": "grokking"},
        "cross-attention": {
            "model": "cross-attention",
            "p": 4,
            "train": TrainConfig(optimizer="adam", lr=PAPER_LR, steps=1000).to_dict(),
        },
    }

    def validate(self) -> None:
        for name in ("seq_len", "k", "n_train", "d_model"):
            require_positive_int(name, getattr(self, name))
        if self.model == "grokking" and not is_prime(self.p):
            raise UsageError(f"p must be a prime number for grokking (e.g. 47, 113), got {self.p}")
        if self.model == "cross-attention" and self.p < 2:
            raise UsageError(f"p must be at least 2, got {self.p}")
        require_range("train_fraction", self.train_fraction, 0, 1, low_open=True, high_open=True)

    @property
    def seed(self) -> int:
        return self.train.seed

    def data(self) -> TrainTestSplit:
        if self.model == "grokking":
            return MODULAR_ADDITION.build(self.p, self.train_fraction, self.seed)
        return SPARSE_MODULAR_ADDITION.build(
            p=self.p,
            seq_len=self.seq_len,
            k=self.k,
            n_train=self.n_train,
            n_test=self.n_train,
            seed=self.seed,
        )

    def build_model(self) -> nn.Module:
        if self.model == "grokking":
            return grokking_model(self.p, seed=self.seed)
        shape = CrossAttentionConfig(
            d_vocab=self.p,
            n_ctx=self.seq_len,
            d_model=self.d_model,
            mlp_residual=self.mlp_residual,
            seed=self.seed,
        )
        return HookedCrossAttention(shape)


@dataclass
class TrainingResult:
    config: ToyTrainingConfig
    model: nn.Module
    data: TrainTestSplit
    history: pd.DataFrame

    def metrics(self) -> dict[str, float]:
        """The last evaluation: step, losses, accuracies, parameter norm."""
        return {k: float(v) for k, v in self.history.iloc[-1].items()}


def run_training(
    config: ToyTrainingConfig, run: RunFolder | None = None, *, resume: bool = False
) -> TrainingResult:
    """Train the toy; with ``run``: its checkpoint (resumable), metrics and accuracy figure."""
    data, model = config.data(), config.build_model()
    checkpoint = run.file(CHECKPOINT_FILE) if run is not None else None
    if resume and (checkpoint is None or resume_problem(checkpoint, data)):
        raise UsageError(resume_problem(checkpoint, data) if checkpoint else "resume needs a run")
    logits_fn = last_position_logits if config.model == "grokking" else default_logits
    trainer = Trainer(model, data, config.train, logits_fn=logits_fn, checkpoint=checkpoint)
    if resume:
        trainer.load_checkpoint(checkpoint)
    result = TrainingResult(config, model, data, trainer.fit())
    if run is not None:
        run.update(model=describe_model(model, toy=config.model))
        run.save_table("metrics.parquet", result.history)
        frame = result.history.assign(run=config.model)
        title = f"{config.model}: {data.meta['task']}"
        figures.save_figure(
            figures.accuracy_curves(frame, group="run", title=title), run, "accuracy"
        )
    return result
