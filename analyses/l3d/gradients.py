"""Per-sample gradients of the divergence between a sample's output and a reference output.

For a batch of inputs, each sample i is paired with the (detached) output of another random
sample r(i) of the batch, and ``g_i = grad_W D(f(x_i; W), f(x_r(i); W))`` at the frozen W is
computed for every sample at once with ``torch.func.vmap(torch.func.grad(...))``.

Divergences: ``mse`` = ``sum((out - ref)^2)`` for regressions (toys); ``kl`` =
``KL(softmax(ref) || softmax(out))`` for classifiers and language models.

Example:
    >>> import torch
    >>> from mechcirc.analyses.l3d.parameters import select_parameters
    >>> from mechcirc.analyses.l3d.targets import VectorTarget
    >>> target = VectorTarget(select_parameters(torch.nn.Linear(3, 2)),
    ...                       lambda g, n: torch.rand(n, 3, generator=g))
    >>> x = target.sample(torch.Generator().manual_seed(0), 8)
    >>> refs = reference_outputs(target, x, torch.Generator().manual_seed(1))
    >>> per_sample_gradients(target, x, refs)["weight"].shape
    torch.Size([8, 2, 3])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor
from torch.func import grad, vmap

from mechcirc.errors import UsageError


def mse_divergence(output: Tensor, reference: Tensor) -> Tensor:
    return ((output - reference) ** 2).sum()


def kl_divergence(output: Tensor, reference: Tensor) -> Tensor:
    """``KL(softmax(reference) || softmax(output))`` over the last dimension, summed."""
    ref_logp = F.log_softmax(reference, dim=-1)
    return (ref_logp.exp() * (ref_logp - F.log_softmax(output, dim=-1))).sum()


DIVERGENCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": mse_divergence,
    "kl": kl_divergence,
}


def divergence_fn(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name not in DIVERGENCES:
        raise UsageError(f"unknown divergence {name!r}: expected one of {', '.join(DIVERGENCES)}")
    return DIVERGENCES[name]


def batch_outputs(target, values: dict[str, Tensor], inputs: Any) -> Tensor:
    """The target's outputs for a batch of inputs (one ``forward_one`` per sample, vmapped)."""
    return vmap(target.forward_one, in_dims=(None, 0))(values, inputs)


def reference_indices(n: int, generator: torch.Generator) -> Int[Tensor, " n"]:
    """For each sample, another random sample of the batch (never itself)."""
    if n < 2:
        raise UsageError(f"references need a batch of at least 2 samples, got {n}")
    return (torch.arange(n) + torch.randint(1, n, (n,), generator=generator)) % n


@torch.no_grad()
def reference_outputs(target, inputs: Any, generator: torch.Generator) -> Tensor:
    """Detached outputs of randomly paired other samples, one reference per sample."""
    outputs = batch_outputs(target, target.group.values(), inputs)
    return outputs[reference_indices(len(outputs), generator)]


def per_sample_gradients(target, inputs: Any, references: Tensor) -> dict[str, Tensor]:
    """``{name: [batch, *shape]}`` gradients of D(f(x_i), ref_i) w.r.t. the group's parameters."""
    divergence = divergence_fn(target.divergence)

    def loss(values, sample, reference):
        return divergence(target.forward_one(values, sample), reference)

    return vmap(grad(loss), in_dims=(None, 0, 0))(target.group.values(), inputs, references)


def flat_gradients(target, inputs: Any, references: Tensor) -> Float[Tensor, "batch n_params"]:
    """Per-sample gradients flattened and concatenated in the group's name order."""
    grads = per_sample_gradients(target, inputs, references)
    return torch.cat([grads[n].reshape(len(references), -1) for n in target.group.names], dim=1)
