"""What L3D decomposes: a model, a parameter group, a divergence and a source of input samples.

A target runs one sample at a time through ``torch.func.functional_call`` with the group's
parameters replaced, so :mod:`mechcirc.analyses.l3d.gradients` can ``vmap`` per-sample gradients.

- :class:`VectorTarget`: a module mapping ``[batch, d_in]`` to ``[batch, d_out]`` (the toy models);
  divergence MSE, inputs drawn by a sampler ``(generator, n) -> [n, d_in]``.
- :class:`TokenTarget`: a language model (TransformerBridge) on a pool of token sequences; its
  output is the next-token logits at each sequence's read position, divergence KL. The bridge
  itself runs under ``functional_call``/``vmap`` (tested against a per-sample loop); parameters
  are substituted once per owning module, see :mod:`mechcirc.parameters`.

Example:
    >>> import torch
    >>> from mechcirc.analyses.l3d.parameters import select_parameters
    >>> net = torch.nn.Linear(3, 2)
    >>> target = VectorTarget(select_parameters(net), lambda g, n: torch.rand(n, 3, generator=g))
    >>> target.sample(torch.Generator().manual_seed(0), 4).shape
    torch.Size([4, 3])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor
from torch.func import functional_call

from mechcirc.analyses.l3d.parameters import ParameterGroup
from mechcirc.errors import UsageError

Sampler = Callable[[torch.Generator, int], Tensor]


@dataclass
class VectorTarget:
    """A vector-to-vector module (a toy model) with an input sampler; divergence MSE."""

    group: ParameterGroup
    sampler: Sampler
    divergence: str = "mse"

    def sample(self, generator: torch.Generator, n: int) -> Float[Tensor, "n d_in"]:
        return self.sampler(generator, n)

    def forward_one(self, values: Mapping[str, Tensor], x: Float[Tensor, " d_in"]) -> Tensor:
        """The output for one sample with the group's parameters set to ``values``."""
        module = self.group.module
        params = self.group.substitution(values)
        return functional_call(module, params, (x[None],), tie_weights=False)[0]

    def describe(self, inputs: Tensor, index: int) -> dict[str, Any]:
        return {"input": [round(float(v), 4) for v in inputs[index]]}


@dataclass
class TokenTarget:
    """A language model over token sequences; output = logits at each row's read position."""

    group: ParameterGroup
    tokens: Int[Tensor, "n_pool pos"]
    read_positions: Int[Tensor, " n_pool"]
    tokenizer: Any = None
    divergence: str = "kl"

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.read_positions.shape != self.tokens.shape[:1]:
            raise UsageError(
                "tokens must be [n, pos] with one read position per row, got "
                f"{tuple(self.tokens.shape)} and {tuple(self.read_positions.shape)}"
            )
        if len(self.tokens) < 2:
            raise UsageError(f"need at least 2 sequences (references), got {len(self.tokens)}")

    def sample(self, generator: torch.Generator, n: int) -> dict[str, Tensor]:
        """``n`` rows of the pool (with replacement when ``n`` exceeds it)."""
        pool = len(self.tokens)
        if n <= pool:
            rows = torch.randperm(pool, generator=generator)[:n]
        else:
            rows = torch.randint(pool, (n,), generator=generator)
        width = self.tokens.shape[1]
        read = torch.nn.functional.one_hot(self.read_positions[rows], width).to(torch.float32)
        return {"tokens": self.tokens[rows], "read": read, "row": rows}

    def forward_one(self, values: Mapping[str, Tensor], sample: Mapping[str, Tensor]) -> Tensor:
        """Next-token logits ``[d_vocab]`` at the sample's read position."""
        logits = functional_call(
            self.group.module,
            self.group.substitution(values),
            (sample["tokens"][None],),
            tie_weights=False,
        )[0]
        # A one-hot read mask instead of indexing keeps the function vmap-friendly.
        return (logits * sample["read"][:, None]).sum(0)

    def describe(self, inputs: Mapping[str, Tensor], index: int) -> dict[str, Any]:
        row = int(inputs["row"][index])
        ids = self.tokens[row, : int(self.read_positions[row]) + 1].tolist()
        text = self.tokenizer.decode(ids) if self.tokenizer is not None else None
        return {"row": row, "tokens": ids, "text": text}
