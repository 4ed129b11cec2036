"""Training the toy models: a typed config with the paper's settings and mechcirc's faster ones.

Presets:

- ``paper`` (the draft's appendix B and the authors' toy trainer): a fixed pool of 10,000 inputs,
  batch 32, 1,000 epochs (313,000 steps), AdamW lr 1e-3 with weight decay 1e-3, mean squared
  error. About 2-6 minutes on one CPU thread, for one seed or several trained together
  (:func:`train_toys`).
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

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from mechcirc.analyses.l3d.toys import ToySpec
from mechcirc.config import Config, require_positive_int, require_range
from mechcirc.errors import UsageError

__all__ = ["ToyTrainingConfig", "stack_models", "train_toy", "train_toys", "unstack_model"]

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


def stack_models(models: Sequence[nn.Module]) -> nn.Module:
    """One module of the same class whose parameters and buffers are the models' stacked
    ``[n_models, ...]`` (toy forwards broadcast over that leading dimension)."""
    stacked = copy.deepcopy(models[0])
    states = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in models]
    for name, module in stacked.named_modules():
        prefix = f"{name}." if name else ""
        for key, _ in list(module.named_parameters(recurse=False)):
            values = torch.stack([state[prefix + key].detach() for state in states])
            setattr(module, key, nn.Parameter(values))
        for key, _ in list(module.named_buffers(recurse=False)):
            module.register_buffer(key, torch.stack([state[prefix + key] for state in states]))
    return stacked


def unstack_model(stacked: nn.Module, index: int, template: nn.Module) -> nn.Module:
    """Model ``index`` of a :func:`stack_models` module, in ``template`` (same class), frozen."""
    template.load_state_dict({k: v[index].clone() for k, v in stacked.state_dict().items()})
    return template.eval().requires_grad_(False)


def train_toys(
    spec: ToySpec,
    config: ToyTrainingConfig | None = None,
    seeds: Sequence[int] = (0,),
    progress: bool = False,
) -> list[nn.Module]:
    """Build ``spec``'s model for each seed and train them all at once; returned frozen.

    The models are stacked into one module (:func:`stack_models`) and trained on the sum of
    their mean squared errors, each on its own seed's data, with one fused AdamW: AdamW is
    elementwise, so each model follows exactly the steps it would follow alone
    (``train_toys(spec, config, [0, 1])`` equals ``[train_toy(spec, config, 0),
    train_toy(spec, config, 1)]``, tested), in about the time of one: a toy step costs its
    per-operation overhead, not its arithmetic.
    """
    config = config or ToyTrainingConfig()
    if not seeds:
        raise UsageError("train_toys needs at least one seed")
    stacked = stack_models([spec.build(seed) for seed in seeds])
    optimizer = torch.optim.AdamW(
        stacked.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    streams = [_batches(spec, config, torch.Generator().manual_seed(seed)) for seed in seeds]
    label = f"train {spec.name} (seeds {', '.join(map(str, seeds))})"
    for step in tqdm(range(config.steps), desc=label, disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate(step)
        x = torch.stack([next(stream) for stream in streams])
        losses = ((stacked(x) - spec.task(stacked, x)) ** 2).mean((-2, -1))
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
    log.info("trained toy %s: final batch losses %s", spec.name, losses.tolist())
    return [unstack_model(stacked, i, spec.build(seed)) for i, seed in enumerate(seeds)]


def train_toy(
    spec: ToySpec, config: ToyTrainingConfig | None = None, seed: int = 0, progress: bool = False
) -> nn.Module:
    """Build ``spec``'s model with ``seed`` and train it on its task; returned frozen."""
    return train_toys(spec, config, [seed], progress)[0]
