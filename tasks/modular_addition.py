"""Modular addition (grokking): every pair ``a b =`` with target ``(a + b) mod P``.

Tokens ``0 .. P-1`` are the numbers and token ``P`` is ``=``, so the input vocabulary has
``P + 1`` entries and the output has ``P`` classes. The train/test split is a deterministic
permutation of all ``P^2`` pairs given ``train_fraction`` and ``seed``.

Example:
    >>> from mechcirc.tasks.modular_addition import MODULAR_ADDITION
    >>> split = MODULAR_ADDITION.build(p=7, train_fraction=0.5, seed=0)
    >>> split.n_train + split.n_test, split.d_vocab, split.n_classes
    (49, 8, 7)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.registry import register

__all__ = ["MODULAR_ADDITION", "ModularAddition", "all_pairs", "is_prime"]


def is_prime(n: int) -> bool:
    """Whether ``n`` is a prime number (trial division; P is small here)."""
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def all_pairs(p: int) -> tuple[Int[Tensor, "pairs 3"], Int[Tensor, " pairs"]]:
    """Every ``(a, b, =)`` row in lexicographic order and its label ``(a + b) % p``."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    inputs = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return inputs, (a + b) % p


@dataclass(frozen=True)
class ModularAddition:
    """The grokking task of Power et al. / Nanda et al. / Varma et al."""

    kind: str = "dataset"
    name: str = "modular-addition"
    description: str = "a b = -> (a + b) mod P over all P^2 pairs (grokking); vocab P+1"

    def build(self, p: int = 113, train_fraction: float = 0.3, seed: int = 0) -> TrainTestSplit:
        """All ``p^2`` pairs split into train (``round(fraction * p^2)``) and test by ``seed``."""
        if not is_prime(p):
            raise UsageError(f"p must be a prime number (e.g. 59, 113), got {p}")
        n_pairs = p * p
        n_train = round(train_fraction * n_pairs)
        if not 0 < n_train < n_pairs:
            raise UsageError(
                f"train_fraction must leave at least one train and one test pair of {n_pairs}, "
                f"got {train_fraction}"
            )
        inputs, labels = all_pairs(p)
        order = torch.randperm(n_pairs, generator=torch.Generator().manual_seed(seed))
        train, test = order[:n_train], order[n_train:]
        meta = {"task": self.name, "p": p, "train_fraction": train_fraction, "seed": seed}
        return TrainTestSplit(
            inputs[train], labels[train], inputs[test], labels[test], p + 1, p, meta
        )


MODULAR_ADDITION = register(ModularAddition())
