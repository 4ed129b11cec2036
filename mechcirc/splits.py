"""A train/test split of token sequences and labels: what the toy-model trainer consumes.

Example:
    >>> import torch
    >>> tokens, labels = torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long)
    >>> split = TrainTestSplit(tokens[:3], labels[:3], tokens[3:], labels[3:], 2, 2, meta={})
    >>> split.n_train, split.n_test
    (3, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.errors import UsageError

__all__ = ["TrainTestSplit"]


@dataclass(frozen=True)
class TrainTestSplit:
    """Token sequences and their labels for training a toy model, split into train and test.

    Labels are one class per sequence (``[n]``) or one token per position (``[n, seq]``, for
    next-token language modelling; the trainer ignores positions labelled -100).
    """

    train_inputs: Int[Tensor, "n_train seq"]
    train_labels: Int[Tensor, " n_train *label_positions"]
    test_inputs: Int[Tensor, "n_test seq"]
    test_labels: Int[Tensor, " n_test *label_positions"]
    d_vocab: int
    n_classes: int
    meta: dict

    @property
    def n_train(self) -> int:
        return self.train_inputs.shape[0]

    @property
    def n_test(self) -> int:
        return self.test_inputs.shape[0]

    def train_subset(self, n: int, seed: int = 0) -> TrainTestSplit:
        """The first ``n`` training examples of a seeded shuffle; the test set is unchanged."""
        if not 1 <= n <= self.n_train:
            raise UsageError(f"subset size must be in 1..{self.n_train} (the train size), got {n}")
        order = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(seed))[:n]
        return TrainTestSplit(
            self.train_inputs[order],
            self.train_labels[order],
            self.test_inputs,
            self.test_labels,
            self.d_vocab,
            self.n_classes,
            {**self.meta, "train_subset": n, "subset_seed": seed},
        )
