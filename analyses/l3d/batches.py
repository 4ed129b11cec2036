"""The gradient batch of each training step, a pure function of the step (so fits resume exactly).

With ``config.n_train`` a fixed pool of that many inputs is drawn once and visited in shuffled
epochs of ``ceil(n_train / batch_size)`` batches (the last one smaller, as a ``DataLoader``
without ``drop_last``); without it every step draws fresh inputs. Each step's references come
from a generator seeded by the step.

For a vector target (a toy) with a pool, the pool's outputs ``f_i`` and Jacobians
``J_i = df(x_i, W)/dW`` at the frozen ``W`` are computed once (``n_train x d_out x n_params``
numbers: 1.1 M for the circuit-superposition toy, 13 M for the higher-rank one), and a step's
gradients are ``g_i = J_i^T dD/df (f_i, f_r(i))``, the chain rule, equal to the per-sample
``vmap(grad)`` of :func:`.gradients.flat_gradients` to float rounding (tested) at a fraction of
its per-step cost.

Example:
    >>> batches = TrainingBatches(target, L3DConfig.preset("paper"))  # doctest: +SKIP
    >>> batches(0).shape  # doctest: +SKIP
    torch.Size([32, 110])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor
from torch.func import jacrev, vmap

from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.gradients import (
    divergence_fn,
    flat_gradients,
    reference_indices,
    reference_outputs,
)
from mechcirc.analyses.l3d.targets import VectorTarget, take

__all__ = [
    "EVAL_SEED_OFFSET",
    "TrainingBatches",
    "chain_rule_gradients",
    "evaluation_inputs",
    "pool_jacobians",
    "step_generator",
]

EVAL_SEED_OFFSET = 7_919  # evaluation data never coincides with a training step's data
POOL_SEED_OFFSET = 104_729


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of training step ``step``: a resumed fit redraws the same batches."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def evaluation_inputs(target, config: L3DConfig) -> Any:
    """``config.n_eval`` held-out inputs (fresh draws, or the target's evaluation texts)."""
    generator = torch.Generator().manual_seed(config.seed + EVAL_SEED_OFFSET)
    return target.sample(generator, config.n_eval, "eval")


def pool_jacobians(target: VectorTarget, inputs: Tensor) -> Float[Tensor, "n d_out n_params"]:
    """``df(x_i, W)/dW`` at the frozen ``W`` for every input, flattened in the group's order."""
    values = target.group.values()
    jacobians = vmap(jacrev(target.forward_one), in_dims=(None, 0))(values, inputs)
    n, d_out = len(inputs), target.outputs(values, inputs[:1]).shape[-1]
    return torch.cat([jacobians[k].reshape(n, d_out, -1) for k in target.group.names], dim=-1)


class TrainingBatches:
    """``batches(step)`` -> the per-sample gradients of step ``step``."""

    def __init__(self, target, config: L3DConfig):
        self.target, self.config = target, config
        self.pool = self.outputs = self.jacobians = None
        self._order: tuple[int, Tensor] | None = None
        if config.n_train is not None:
            generator = torch.Generator().manual_seed(config.seed + POOL_SEED_OFFSET)
            self.pool = target.sample(generator, config.n_train, "train")
            self.steps_per_epoch = math.ceil(config.n_train / config.batch_size)
            if isinstance(target, VectorTarget):
                with torch.no_grad():
                    self.outputs = target.outputs(target.group.values(), self.pool)
                self.jacobians = pool_jacobians(target, self.pool)

    def rows(self, step: int) -> Tensor:
        """The pool rows of step ``step`` (its epoch's shuffle, computed once per epoch)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        if self._order is None or self._order[0] != epoch:
            shuffle = torch.Generator().manual_seed(self.config.seed * 1_000_003 + 2**40 + epoch)
            self._order = (epoch, torch.randperm(self.config.n_train, generator=shuffle))
        size = self.config.batch_size
        return self._order[1][index * size : (index + 1) * size]

    def inputs(self, step: int, generator: torch.Generator) -> Any:
        if self.pool is None:
            return self.target.sample(generator, self.config.batch_size, "train")
        return take(self.pool, self.rows(step))

    def __call__(self, step: int) -> Float[Tensor, "n_samples n_params"]:
        generator = step_generator(self.config.seed, step)
        if self.jacobians is not None:
            return self._from_jacobians(self.rows(step), generator)
        inputs = self.inputs(step, generator)
        return flat_gradients(
            self.target, inputs, reference_outputs(self.target, inputs, generator)
        )

    def _from_jacobians(self, rows: Tensor, generator: torch.Generator) -> Tensor:
        """The reference of sample i is ``f`` of another sample of the batch, drawn as
        :func:`.gradients.reference_outputs` draws it."""
        outputs = self.outputs[rows]
        references = outputs[reference_indices(len(rows), generator)]
        divergence = divergence_fn(self.target.divergence)
        return chain_rule_gradients(outputs, references, self.jacobians[rows], [divergence])


def chain_rule_gradients(
    outputs: Float[Tensor, "*members batch d_out"],
    references: Float[Tensor, "*members batch d_out"],
    jacobians: Float[Tensor, "*members batch d_out n_params"],
    divergences: list[Callable[[Tensor, Tensor], Tensor]],
) -> Float[Tensor, "*members batch n_params"]:
    """``g_i = J_i^T dD/df (f_i, ref_i)``; with leading member dimensions ``divergences`` has
    one entry per member (or one for all)."""
    outputs = outputs.detach().requires_grad_(True)
    with torch.enable_grad():
        if len(divergences) == 1:
            total = divergences[0](outputs, references)
        else:  # divergences sum over their elements: a member's share of the sum is its own
            total = sum(d(outputs[m], references[m]) for m, d in enumerate(divergences))
        (output_gradients,) = torch.autograd.grad(total, outputs)
    return torch.einsum("...bo,...bop->...bp", output_gradients, jacobians)
