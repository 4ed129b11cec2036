"""Per-sample gradients of the divergence between a sample's output and a reference output.

For a batch of inputs, each sample i is paired with the (detached) output of another random
sample r(i) of the batch, and ``g_i = grad_W D(f_i(W), f_r(i)(W0))`` at the frozen ``W0``,
computed for every sample at once with ``torch.func``: ``vmap(grad(...))`` for one sample per
input, and for a text in per-token mode ``jacrev`` over its positions (one forward per text,
one backward per position), the authors' flatten-over-tokens loss.

Divergences: ``mse`` = ``sum((out - ref)^2)`` (the draft's toys); ``mse-authors`` =
``sum(out * (out - ref))`` with ``ref`` detached, what the authors' code differentiates (its
gradient ``J^T (2 out - ref)`` keeps a reference-free ``J^T out`` term); ``kl`` =
``KL(softmax(ref) || softmax(out))`` for language models.

Example:
    >>> import torch
    >>> from mechcirc.analyses.l3d.parameters import select_parameters
    >>> from mechcirc.analyses.l3d.targets import VectorTarget
    >>> target = VectorTarget(select_parameters(torch.nn.Linear(3, 2)),
    ...                       lambda g, n: torch.rand(n, 3, generator=g))
    >>> x = target.sample(torch.Generator().manual_seed(0), 8)
    >>> refs = reference_outputs(target, x, torch.Generator().manual_seed(1))
    >>> flat_gradients(target, x, refs).shape  # 2*3 weights + 2 biases
    torch.Size([8, 8])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor
from torch.func import grad, jacrev, vmap

from mechcirc.errors import UsageError

__all__ = [
    "DIVERGENCES",
    "flat_gradients",
    "per_sample_gradients",
    "reference_indices",
    "reference_outputs",
]


def mse_divergence(output: Tensor, reference: Tensor) -> Tensor:
    return ((output - reference) ** 2).sum()


def authors_mse_divergence(output: Tensor, reference: Tensor) -> Tensor:
    return (output * (output - reference)).sum()


def kl_divergence(output: Tensor, reference: Tensor) -> Tensor:
    """``KL(softmax(reference) || softmax(output))`` over the last dimension, summed."""
    ref_logp = F.log_softmax(reference, dim=-1)
    return (ref_logp.exp() * (ref_logp - F.log_softmax(output, dim=-1))).sum()


DIVERGENCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": mse_divergence,
    "mse-authors": authors_mse_divergence,
    "kl": kl_divergence,
}


def divergence_fn(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name not in DIVERGENCES:
        raise UsageError(f"unknown divergence {name!r}: expected one of {', '.join(DIVERGENCES)}")
    return DIVERGENCES[name]


def reference_indices(n: int, generator: torch.Generator) -> Int[Tensor, " n"]:
    """For each sample, another random sample of the batch (never itself)."""
    if n < 2:
        raise UsageError(f"references need a batch of at least 2 samples, got {n}")
    return (torch.arange(n) + torch.randint(1, n, (n,), generator=generator)) % n


@torch.no_grad()
def reference_outputs(
    target, inputs: Any, generator: torch.Generator
) -> Float[Tensor, "n_samples d_out"]:
    """Detached outputs of randomly paired other samples, one reference per sample."""
    outputs = target.outputs(target.group.values(), inputs)
    return outputs[reference_indices(len(outputs), generator).to(outputs.device)]


def per_sample_gradients(target, inputs: Any, references: Tensor) -> dict[str, Tensor]:
    """``{name: [n_samples, *shape]}`` gradients of D(f(x_i), ref_i) w.r.t. the group."""
    divergence = divergence_fn(target.divergence)
    values = target.group.values()
    if getattr(target, "positions", "last") == "all":
        return _per_token_gradients(target, divergence, values, inputs, references)

    def loss(values, sample, reference):
        return divergence(target.forward_one(values, sample), reference)

    if isinstance(inputs, dict):  # token targets in "last" mode: tokens and read masks
        inputs = {k: inputs[k] for k in ("tokens", "read")}
    return vmap(grad(loss), in_dims=(None, 0, 0))(values, inputs, references)


def _per_token_gradients(target, divergence, values, inputs, references) -> dict[str, Tensor]:
    """Every position of every text: one forward per text, ``jacrev`` over its positions."""
    tokens = inputs["tokens"]
    n, length = tokens.shape

    def losses(values, text, text_references):
        logits = target.logits_one(values, text)
        return vmap(divergence)(logits, text_references)

    per_text = vmap(jacrev(losses), in_dims=(None, 0, 0), chunk_size=target.text_chunk)
    jacobians = per_text(values, tokens, references.view(n, length, -1))
    return {name: j.flatten(0, 1) for name, j in jacobians.items()}


def flat_gradients(target, inputs: Any, references: Tensor) -> Float[Tensor, "n_samples n_params"]:
    """Per-sample gradients flattened and concatenated in the group's name order."""
    grads = per_sample_gradients(target, inputs, references)
    return torch.cat([grads[n].reshape(len(references), -1) for n in target.group.names], dim=1)
