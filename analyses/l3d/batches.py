"""The gradient batch of each training step, a pure function of the step (so fits resume exactly).

With ``config.n_train`` a fixed pool of that many inputs is drawn once and visited in shuffled
epochs of ``ceil(n_train / batch_size)`` batches (the last one smaller, as a ``DataLoader``
without ``drop_last``); without it every step draws fresh inputs. Each step's references come
from a generator seeded by the step.

Example:
    >>> batches = TrainingBatches(target, L3DConfig.preset("paper"))  # doctest: +SKIP
    >>> batches(0).shape  # doctest: +SKIP
    torch.Size([32, 110])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.gradients import flat_gradients, reference_outputs
from mechcirc.analyses.l3d.targets import take

__all__ = ["EVAL_SEED_OFFSET", "TrainingBatches", "evaluation_inputs", "step_generator"]

EVAL_SEED_OFFSET = 7_919  # evaluation data never coincides with a training step's data
POOL_SEED_OFFSET = 104_729


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of training step ``step``: a resumed fit redraws the same batches."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def evaluation_inputs(target, config: L3DConfig) -> Any:
    """``config.n_eval`` held-out inputs (fresh draws, or the target's evaluation texts)."""
    generator = torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET)
    return target.sample(generator, config.n_eval, "eval")


class TrainingBatches:
    """``batches(step)`` -> the per-sample gradients of step ``step``."""

    def __init__(self, target, config: L3DConfig):
        self.target, self.config = target, config
        self.pool = None
        if config.n_train is not None:
            generator = torch.Generator().manual_seed(config.seed + POOL_SEED_OFFSET)
            self.pool = target.sample(generator, config.n_train, "train")
            self.steps_per_epoch = math.ceil(config.n_train / config.batch_size)

    def inputs(self, step: int, generator: torch.Generator) -> Any:
        if self.pool is None:
            return self.target.sample(generator, self.config.batch_size, "train")
        epoch, index = divmod(step, self.steps_per_epoch)
        shuffle = torch.Generator().manual_seed(self.config.seed * 1_000_003 + 2**40 + epoch)
        order = torch.randperm(self.config.n_train, generator=shuffle)
        size = self.config.batch_size
        return take(self.pool, order[index * size : (index + 1) * size])

    def __call__(self, step: int) -> Float[Tensor, "n_samples n_params"]:
        generator = step_generator(self.config.seed, step)
        inputs = self.inputs(step, generator)
        return flat_gradients(
            self.target, inputs, reference_outputs(self.target, inputs, generator)
        )
