"""Settings of one L3D decomposition: what to decompose, how to fit it, how to evaluate it.

One frozen :class:`L3DConfig` feeds the CLI, the notebook call, the manifest and the checkpoint;
``mechcirc rerun`` rebuilds it from the manifest. Named presets:

- ``paper``: the authors' toy settings (Chrisman et al. 2025, appendix B and their scripts): a
  fixed pool of 1,000 samples, batch 32, 1,000 epochs (32,000 steps), Adam lr 0.01 times 0.8
  every 100 epochs (3,200 steps; the draft says "every 100 steps", the scripts step per epoch),
  top-k 0.1, the first two epochs nearly dense (their ``--warm-start-epochs 1``: top-k 0.999 for
  epochs 0 and 1).
- ``fast``: mechcirc's earlier toy settings (fresh samples every step, batch 1,024, 3,000 steps,
  lr 0.01 halved at 50% and 75%): about 30x cheaper and within a few points of ``paper``.
- ``paper-lm``: the authors' TinyStories-8M run (100 subnetworks with ranks ~1/10 of each
  dimension, 10,000 texts of 16 tokens, batch 16 texts, 100 epochs, lr 0.005 x 0.8 every 10
  epochs, impacts over 10 references), for a GPU.

Example:
    >>> config = L3DConfig.preset("paper", n_subnetworks=10)
    >>> config.steps, config.lr_decay_every, config.learning_rate(3200)
    (32000, 3200, 0.008)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mechcirc.config import Config, require_in, require_positive_int, require_range
from mechcirc.errors import UsageError

__all__ = ["L3DConfig"]

PAPER_STEPS_PER_EPOCH = 32  # ceil(1000 samples / batch 32), the last batch holds 8


@dataclass(frozen=True)
class L3DConfig(Config):
    """Hyper-parameters of one decomposition.

    Attributes:
        params: ``fnmatch`` pattern(s) of the parameters to decompose (comma-separated).
        n_subnetworks: ``n_v``, the number of subnetworks.
        rank: Tucker rank per tensor mode (capped by the mode's size).
        rank_fraction: if set, each mode's rank is this fraction of its size (the paper's
            transformer run used ~0.1); ``rank`` is then ignored.
        topk: fraction of the batch's (sample, subnetwork) activations kept (batch top-k).
        steps / batch_size: optimiser steps, inputs per step (a text counts once, however many
            token samples it holds).
        n_train: a fixed pool of this many training inputs visited in shuffled epochs (the
            paper: 1,000); None draws fresh inputs every step.
        lr, lr_decay, lr_decay_every: the learning rate is multiplied by ``lr_decay`` every
            ``lr_decay_every`` steps (0: at 50% and 75% of the steps).
        weight_decay: AdamW's decoupled weight decay (0: Adam, what the authors' code runs).
        dense_steps: first steps fitted with top-k 0.999 (the authors' warm start).
        subnetwork_chunk: 0 builds the dense ``n_v x n_params`` maps each step; N > 0 works
            from the Tucker factors N subnetworks at a time (memory grows with the rank).
        n_eval, n_references, n_top, deltas, interventions: evaluation on held-out inputs.
    """

    params: str = "*"
    n_subnetworks: int = 10
    rank: int = 1
    rank_fraction: float | None = None
    topk: float = 0.1
    steps: int = 2000
    batch_size: int = 256
    n_train: int | None = None
    lr: float = 1e-2
    lr_decay: float = 0.5
    lr_decay_every: int = 0
    weight_decay: float = 0.0
    dense_steps: int = 0
    loss_normalisation: Literal["batch", "sample"] = "batch"
    subnetwork_chunk: int = 0
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 100
    n_eval: int = 1024
    n_references: int = 4
    n_top: int = 10
    deltas: tuple[float, ...] | None = None
    interventions: bool = True

    PRESETS = {
        "paper": {
            "topk": 0.1,
            "n_train": 1000,
            "batch_size": 32,
            "steps": 1000 * PAPER_STEPS_PER_EPOCH,
            "lr": 0.01,
            "lr_decay": 0.8,
            "lr_decay_every": 100 * PAPER_STEPS_PER_EPOCH,
            "dense_steps": 2 * PAPER_STEPS_PER_EPOCH,
            "log_every": PAPER_STEPS_PER_EPOCH * 10,
            "checkpoint_every": PAPER_STEPS_PER_EPOCH * 50,
        },
        "fast": {
            "topk": 0.1,
            "batch_size": 1024,
            "steps": 3000,
            "lr": 0.01,
            "lr_decay": 0.5,
            "lr_decay_every": 0,
        },
        "paper-lm": {
            "n_subnetworks": 100,
            "rank_fraction": 0.1,
            "topk": 0.1,
            "n_train": 10000,
            "batch_size": 16,
            "steps": 100 * 625,
            "lr": 0.005,
            "lr_decay": 0.8,
            "lr_decay_every": 10 * 625,
            "n_references": 10,
            "n_eval": 10000,
            "n_top": 5,
        },
    }

    def validate(self) -> None:
        if not isinstance(self.params, str) or not self.params.strip():
            raise UsageError(f"params must be a non-empty name pattern, got {self.params!r}")
        for name in ("n_subnetworks", "rank", "steps", "batch_size", "log_every"):
            require_positive_int(name, getattr(self, name))
        for name in ("checkpoint_every", "n_eval", "n_references", "n_top"):
            require_positive_int(name, getattr(self, name))
        require_positive_int("n_train", self.n_train, allow_none=True)
        if self.rank_fraction is not None:
            require_range("rank_fraction", self.rank_fraction, 0, 1, low_open=True)
        require_range("topk", self.topk, 0, 1, low_open=True)
        require_range("lr", self.lr, 0, None, low_open=True)
        require_range("lr_decay", self.lr_decay, 0, 1, low_open=True)
        require_range("weight_decay", self.weight_decay, 0, None)
        for name in ("lr_decay_every", "dense_steps", "subnetwork_chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
        require_in("loss_normalisation", self.loss_normalisation, ("batch", "sample"))
        if self.deltas is not None:
            if not self.deltas:
                raise UsageError("deltas must list at least one step size (or be null)")
            for delta in self.deltas:
                require_range("deltas", delta, 0, None, low_open=True)

    def learning_rate(self, step: int) -> float:
        """The learning rate of (0-based) step ``step``."""
        if self.lr_decay_every > 0:
            return self.lr * self.lr_decay ** (step // self.lr_decay_every)
        decays = int(step >= self.steps // 2) + int(step >= 3 * self.steps // 4)
        return self.lr * self.lr_decay**decays

    def topk_at(self, step: int) -> float:
        """The top-k fraction of step ``step`` (nearly dense during the warm start)."""
        return 0.999 if step < self.dense_steps else self.topk

    def mode_rank(self, size: int) -> int:
        """The Tucker rank of a tensor mode of ``size`` entries."""
        if self.rank_fraction is not None:
            return max(1, min(size, round(size * self.rank_fraction)))
        return min(size, self.rank)
