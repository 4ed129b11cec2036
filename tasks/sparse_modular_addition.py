"""Sparse modular addition (Odonnat et al.): ``T`` tokens in ``Z_p``, target the sum of the first
``k`` tokens mod ``p``.

Train and test sequences are distinct draws without replacement from the ``p^T`` possible
sequences (the authors' code drew both sets independently; with ``4^12`` sequences the two are
almost surely disjoint anyway, here they are disjoint by construction). ``d_vocab`` may exceed
``p`` so that a model built for ``p = 4`` can be pretrained on ``p = 2`` data (the curriculum).

Example:
    >>> from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION
    >>> split = SPARSE_MODULAR_ADDITION.build(p=2, seq_len=6, k=3, n_train=20, n_test=10)
    >>> split.train_inputs.shape, int(split.train_inputs.max()) <= 1
    (torch.Size([20, 6]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.registry import register

__all__ = ["SPARSE_MODULAR_ADDITION", "SparseModularAddition", "decode_sequences", "distinct_codes"]

# Above this many possible sequences, distinct codes are drawn by rejection instead of randperm.
_PERMUTE_LIMIT = 1 << 22


def decode_sequences(codes: Int[Tensor, " n"], p: int, seq_len: int) -> Int[Tensor, "n seq"]:
    """Base-``p`` digits of each code, most significant first."""
    powers = p ** torch.arange(seq_len - 1, -1, -1)
    return (codes[:, None] // powers) % p


def distinct_codes(n: int, space: int, generator: torch.Generator) -> Int[Tensor, " n"]:
    """``n`` distinct integers in ``[0, space)``: a uniformly random subset in random order."""
    if space <= _PERMUTE_LIMIT:
        return torch.randperm(space, generator=generator)[:n]
    codes = torch.empty(0, dtype=torch.long)
    while codes.numel() < n:
        draw = torch.randint(space, (n - codes.numel() + 16,), generator=generator)
        codes = torch.unique(torch.cat([codes, draw]))  # sorted: shuffled below
    return codes[torch.randperm(codes.numel(), generator=generator)][:n]


@dataclass(frozen=True)
class SparseModularAddition:
    """The curriculum paper's task: sum of the first ``k`` of ``T`` tokens, mod ``p``."""

    kind: str = "dataset"
    name: str = "sparse-modular-addition"
    description: str = "T tokens in Z_p -> sum of the first k mod p (curriculum: p=2 then p=4)"

    def build(
        self,
        p: int = 4,
        seq_len: int = 12,
        k: int = 5,
        n_train: int = 2048,
        n_test: int = 2048,
        seed: int = 0,
        d_vocab: int | None = None,
    ) -> TrainTestSplit:
        """``n_train`` and ``n_test`` distinct sequences (disjoint sets) and their labels."""
        d_vocab = p if d_vocab is None else d_vocab
        _validate(p, seq_len, k, n_train, n_test, d_vocab)
        generator = torch.Generator().manual_seed(seed)
        codes = distinct_codes(n_train + n_test, p**seq_len, generator)
        inputs = decode_sequences(codes, p, seq_len)
        labels = inputs[:, :k].sum(dim=1) % p
        meta = {"task": self.name, "p": p, "seq_len": seq_len, "k": k, "seed": seed}
        return TrainTestSplit(
            inputs[:n_train],
            labels[:n_train],
            inputs[n_train:],
            labels[n_train:],
            d_vocab,
            d_vocab,
            meta,
        )


def _validate(p: int, seq_len: int, k: int, n_train: int, n_test: int, d_vocab: int) -> None:
    if p < 2:
        raise UsageError(f"p must be at least 2, got {p}")
    if seq_len < 1 or not 1 <= k <= seq_len:
        raise UsageError(f"need 1 <= k <= seq_len, got k={k}, seq_len={seq_len}")
    if n_train < 1 or n_test < 0:
        raise UsageError(f"need n_train >= 1 and n_test >= 0, got {n_train} and {n_test}")
    if p**seq_len >= 2**62:
        raise UsageError(f"p^seq_len = {p}^{seq_len} is too large to index; use a shorter seq_len")
    if n_train + n_test > p**seq_len:
        raise UsageError(
            f"n_train + n_test = {n_train + n_test} exceeds the {p**seq_len} distinct sequences "
            f"of length {seq_len} over Z_{p}; ask for fewer examples or a longer seq_len"
        )
    if d_vocab < p:
        raise UsageError(f"d_vocab must be at least p={p}, got {d_vocab}")


SPARSE_MODULAR_ADDITION = register(SparseModularAddition())
