"""Training the toy models: a typed config with the paper's settings and mechcirc's faster ones.

Presets:

- ``paper`` (the draft's appendix B and the authors' toy trainer): a fixed pool of 10,000 inputs,
  batch 32, 1,000 epochs (313,000 steps), AdamW lr 1e-3 with weight decay 1e-3, mean squared
  error. About 2 minutes per toy on one CPU thread.
- ``fast``: fresh inputs every step, batch 1,024, 5,000 steps, AdamW lr 1e-2 halved every
  quarter of the run (mechcirc's earlier trainer; seconds).

Example:
    >>> from mechcirc.analyses.l3d.toys import TOYS
    >>> config = ToyTrainingConfig.preset("fast", steps=20)
    >>> model = train_toy(TOYS["tms"], config, seed=0)
    >>> model.W.requires_grad
    False
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from mechcirc.analyses.l3d.toys import ToySpec
from mechcirc.config import Config, require_positive_int, require_range

__all__ = ["ToyTrainingConfig", "train_toy"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToyTrainingConfig(Config):
    """How a toy model is trained.

    Attributes:
        n_samples: a fixed pool of inputs visited in shuffled epochs; None draws fresh inputs.
        steps: optimiser steps (``paper``: 1,000 epochs of 313 batches).
        lr_halvings: the learning rate is halved this many times, evenly over the run.
    """

    n_samples: int | None = None
    steps: int = 5000
    batch_size: int = 1024
    lr: float = 1e-2
    weight_decay: float = 0.0
    lr_halvings: int = 3

    PRESETS = {
        "paper": {
            "n_samples": 10_000,
            "steps": 1000 * 313,
            "batch_size": 32,
            "lr": 1e-3,
            "weight_decay": 1e-3,
            "lr_halvings": 0,
        },
        "fast": {},
    }

    def validate(self) -> None:
        require_positive_int("n_samples", self.n_samples, allow_none=True)
        require_positive_int("steps", self.steps)
        require_positive_int("batch_size", self.batch_size)
        require_range("lr", self.lr, 0, None, low_open=True)
        require_range("weight_decay", self.weight_decay, 0, None)
        require_range("lr_halvings", self.lr_halvings, 0, None)

    def learning_rate(self, step: int) -> float:
        if self.lr_halvings == 0:
            return self.lr
        period = max(1, self.steps // (self.lr_halvings + 1))
        return self.lr * 0.5 ** min(step // period, self.lr_halvings)


def _batches(spec: ToySpec, config: ToyTrainingConfig, generator: torch.Generator):
    """Training inputs: shuffled epochs over a fixed pool, or fresh draws."""
    if config.n_samples is None:
        while True:
            yield spec.sample(generator, config.batch_size)
    pool = spec.sample(generator, config.n_samples)
    while True:
        order = torch.randperm(len(pool), generator=generator)
        for start in range(0, len(pool), config.batch_size):
            yield pool[order[start : start + config.batch_size]]


def train_toy(
    spec: ToySpec, config: ToyTrainingConfig | None = None, seed: int = 0, progress: bool = False
) -> nn.Module:
    """Build ``spec``'s model with ``seed`` and train it on its task; returned frozen."""
    config = config or ToyTrainingConfig()
    model = spec.build(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    batches = _batches(spec, config, generator)
    for step in tqdm(range(config.steps), desc=f"train {spec.name}", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate(step)
        x = next(batches)
        loss = ((model(x) - spec.task(model, x)) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    log.info("trained toy %s: final batch loss %.6f", spec.name, loss.item())
    return model.eval().requires_grad_(False)
