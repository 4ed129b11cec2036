"""What L3D decomposes: a model, a parameter group, a divergence and where samples come from.

A target runs inputs through ``torch.func.functional_call`` with the group's parameters
replaced, so :mod:`mechcirc.analyses.l3d.gradients` can ``vmap`` per-sample gradients. Inputs
are drawn in *units* (a toy input vector, a text); a unit holds one or more *samples* (a text
in per-token mode holds one sample per position), and everything downstream (references, top-k,
impacts) works on samples.

- :class:`VectorTarget`: a module mapping ``[batch, d_in]`` to ``[batch, d_out]`` (the toy
  models); divergence MSE; inputs drawn by a sampler ``(generator, n) -> [n, d_in]``.
- :class:`TokenTarget`: a language model (TransformerBridge) on a pool of token sequences;
  divergence KL of next-token distributions. ``positions="all"`` (the paper's mode): every
  position of a text is a sample; ``"last"``: one sample per text, at its read position.

Example:
    >>> import torch
    >>> from mechcirc.analyses.l3d.parameters import select_parameters
    >>> net = torch.nn.Linear(3, 2)
    >>> target = VectorTarget(select_parameters(net), lambda g, n: torch.rand(n, 3, generator=g))
    >>> x = target.sample(torch.Generator().manual_seed(0), 4)
    >>> target.outputs(target.group.values(), x).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor
from torch.func import functional_call, vmap

from mechcirc.analyses.l3d.parameters import ParameterGroup
from mechcirc.errors import UsageError

__all__ = ["TokenTarget", "VectorTarget", "count", "take"]

Sampler = Callable[[torch.Generator, int], Tensor]
Split = Literal["train", "eval"]


def take(inputs: Any, index: Tensor | slice) -> Any:
    """Units ``index`` of a tensor or of a dict of tensors (the two input kinds targets use)."""
    if isinstance(inputs, dict):
        return {k: v[index] for k, v in inputs.items()}
    return inputs[index]


def count(inputs: Any) -> int:
    """The number of units in ``inputs``."""
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


@dataclass
class VectorTarget:
    """A vector-to-vector module (a toy model) with an input sampler; divergence MSE."""

    group: ParameterGroup
    sampler: Sampler
    divergence: str = "mse"

    def sample(self, generator: torch.Generator, n: int, split: Split = "train") -> Tensor:
        """``n`` fresh inputs (train and evaluation come from the same distribution)."""
        return self.sampler(generator, n)

    def n_samples(self, inputs: Tensor) -> int:
        return len(inputs)

    def forward_one(self, values: Mapping[str, Tensor], x: Float[Tensor, " d_in"]) -> Tensor:
        """The output for one input with the group's parameters set to ``values``."""
        params = self.group.substitution(values)
        return functional_call(self.group.module, params, (x[None],), tie_weights=False)[0]

    def outputs(self, values: Mapping[str, Tensor], inputs: Tensor) -> Float[Tensor, "n d_out"]:
        return vmap(self.forward_one, in_dims=(None, 0))(values, inputs)

    def describe(self, inputs: Tensor, index: int) -> dict[str, Any]:
        return {"input": [round(float(v), 4) for v in inputs[index]]}


@dataclass
class TokenTarget:
    """A language model over token sequences; a sample is a (text, position) pair.

    Rows ``[0, eval_from)`` of ``tokens`` are drawn for training, rows ``[eval_from, n)`` for
    evaluation (all rows for both when ``eval_from`` is None).
    """

    group: ParameterGroup
    tokens: Int[Tensor, "n_pool pos"]
    read_positions: Int[Tensor, " n_pool"]
    tokenizer: Any = None
    positions: Literal["all", "last"] = "all"
    eval_from: int | None = None
    divergence: str = "kl"
    text_chunk: int = 1  # texts whose per-token Jacobians are computed at once

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.read_positions.shape != self.tokens.shape[:1]:
            raise UsageError(
                "tokens must be [n, pos] with one read position per row, got "
                f"{tuple(self.tokens.shape)} and {tuple(self.read_positions.shape)}"
            )
        if self.positions not in ("all", "last"):
            raise UsageError(f"positions must be 'all' or 'last', got {self.positions!r}")
        n_train = len(self.tokens) if self.eval_from is None else self.eval_from
        if n_train < 2 or (self.eval_from is not None and self.eval_from >= len(self.tokens)):
            raise UsageError(
                f"need at least 2 training texts and 1 held-out text, got {len(self.tokens)} "
                f"texts with evaluation from row {self.eval_from}"
            )

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    def _rows(self, split: Split) -> Tensor:
        if self.eval_from is None:
            return torch.arange(len(self.tokens))
        if split == "train":
            return torch.arange(self.eval_from)
        return torch.arange(self.eval_from, len(self.tokens))

    def sample(self, generator: torch.Generator, n: int, split: Split = "train") -> dict:
        """``n`` texts of the split (training: with replacement only when ``n`` exceeds it;
        evaluation: at most every held-out text once)."""
        pool = self._rows(split)
        if split == "eval":
            n = min(n, len(pool))
        if n <= len(pool):
            rows = pool[torch.randperm(len(pool), generator=generator)[:n]]
        else:
            rows = pool[torch.randint(len(pool), (n,), generator=generator)]
        read = torch.nn.functional.one_hot(self.read_positions[rows], self.seq_len)
        device = self.tokens.device
        return {"tokens": self.tokens[rows], "read": read.float().to(device), "row": rows}

    def n_samples(self, inputs: Mapping[str, Tensor]) -> int:
        n = len(inputs["tokens"])
        return n * self.seq_len if self.positions == "all" else n

    def logits_one(self, values: Mapping[str, Tensor], tokens: Tensor) -> Tensor:
        """Next-token logits ``[pos, d_vocab]`` of one text with the group set to ``values``."""
        params = self.group.substitution(values)
        return functional_call(self.group.module, params, (tokens[None],), tie_weights=False)[0]

    def forward_one(self, values: Mapping[str, Tensor], sample: Mapping[str, Tensor]) -> Tensor:
        """Logits at the text's read position (``"last"`` mode); a one-hot read mask instead of
        indexing keeps the function vmap-friendly."""
        return (self.logits_one(values, sample["tokens"]) * sample["read"][:, None]).sum(0)

    def outputs(
        self, values: Mapping[str, Tensor], inputs: Mapping[str, Tensor]
    ) -> Float[Tensor, "n_samples d_vocab"]:
        if self.positions == "last":
            sample = {k: inputs[k] for k in ("tokens", "read")}
            return vmap(self.forward_one, in_dims=(None, 0))(values, sample)
        logits = vmap(self.logits_one, in_dims=(None, 0))(values, inputs["tokens"])
        return logits.flatten(0, 1)

    def locate(self, inputs: Mapping[str, Tensor], index: int) -> tuple[int, int]:
        """``(pool row, position)`` of sample ``index`` of ``inputs``."""
        if self.positions == "all":
            unit, position = divmod(index, self.seq_len)
        else:
            unit = index
            position = int(inputs["read"][unit].argmax())
        return int(inputs["row"][unit]), position

    def describe(self, inputs: Mapping[str, Tensor], index: int) -> dict[str, Any]:
        """The sample's text up to its position, and the token at it (the prediction point)."""
        row, position = self.locate(inputs, index)
        ids = self.tokens[row, : position + 1].tolist()
        described: dict[str, Any] = {"row": row, "position": position, "tokens": ids}
        if self.tokenizer is not None:
            described["context"] = self.tokenizer.decode(ids[:-1])
            described["token"] = self.tokenizer.decode(ids[-1:])
        return described
