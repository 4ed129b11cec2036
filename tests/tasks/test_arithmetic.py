"""Modular addition and sparse modular addition: exact counts, disjoint splits, labels."""

from __future__ import annotations

import itertools

import pytest
import torch

from mechcirc import tasks
from mechcirc.errors import UsageError
from mechcirc.tasks.modular_addition import MODULAR_ADDITION, is_prime
from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION


def rows(tensor: torch.Tensor) -> list[tuple[int, ...]]:
    return [tuple(row) for row in tensor.tolist()]


@pytest.mark.parametrize("p", [2, 7, 13])
def test_modular_addition_covers_every_pair_once(p):
    split = MODULAR_ADDITION.build(p=p, train_fraction=0.4, seed=3)
    train, test = rows(split.train_inputs), rows(split.test_inputs)
    assert split.n_train + split.n_test == p * p
    assert split.n_train == round(0.4 * p * p)
    assert not set(train) & set(test)
    assert sorted(train + test) == [(a, b, p) for a in range(p) for b in range(p)]
    assert (split.d_vocab, split.n_classes) == (p + 1, p)


def test_modular_addition_labels_are_sums_mod_p():
    p = 11
    split = MODULAR_ADDITION.build(p=p, train_fraction=0.5, seed=0)
    for inputs, labels in (
        (split.train_inputs, split.train_labels),
        (split.test_inputs, split.test_labels),
    ):
        for (a, b, eq), label in zip(inputs.tolist(), labels.tolist(), strict=True):
            assert eq == p and label == (a + b) % p


def test_modular_addition_split_is_deterministic_per_seed():
    first = MODULAR_ADDITION.build(p=7, train_fraction=0.5, seed=1)
    again = MODULAR_ADDITION.build(p=7, train_fraction=0.5, seed=1)
    other = MODULAR_ADDITION.build(p=7, train_fraction=0.5, seed=2)
    assert torch.equal(first.train_inputs, again.train_inputs)
    assert not torch.equal(first.train_inputs, other.train_inputs)


@pytest.mark.parametrize("p, fraction", [(9, 0.3), (1, 0.3), (7, 0.0), (7, 1.0)])
def test_modular_addition_rejects_bad_arguments(p, fraction):
    with pytest.raises(UsageError):
        MODULAR_ADDITION.build(p=p, train_fraction=fraction)


def test_is_prime_known_values():
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


def test_train_subset_takes_training_rows_and_keeps_the_test_set():
    split = MODULAR_ADDITION.build(p=7, train_fraction=0.6, seed=0)
    subset = split.train_subset(10, seed=4)
    assert subset.n_train == 10 and torch.equal(subset.test_inputs, split.test_inputs)
    assert set(rows(subset.train_inputs)) <= set(rows(split.train_inputs))
    with pytest.raises(UsageError, match="subset size"):
        split.train_subset(split.n_train + 1)


def test_sparse_labels_recomputed_independently():
    p, k = 4, 5
    split = SPARSE_MODULAR_ADDITION.build(p=p, seq_len=12, k=k, n_train=300, n_test=200, seed=5)
    for inputs, labels in (
        (split.train_inputs, split.train_labels),
        (split.test_inputs, split.test_labels),
    ):
        expected = [sum(seq[:k]) % p for seq in inputs.tolist()]
        assert labels.tolist() == expected
        assert inputs.min() >= 0 and inputs.max() < p


def test_sparse_train_and_test_are_distinct_and_disjoint():
    split = SPARSE_MODULAR_ADDITION.build(p=4, seq_len=12, k=5, n_train=2048, n_test=2048)
    train, test = rows(split.train_inputs), rows(split.test_inputs)
    assert len(set(train)) == 2048 and len(set(test)) == 2048
    assert not set(train) & set(test)


def test_sparse_exhausts_a_small_space_exactly():
    # p=2, T=12: 4096 sequences; 2048 + 2048 must be all of them, each once.
    split = SPARSE_MODULAR_ADDITION.build(
        p=2, seq_len=12, k=5, n_train=2048, n_test=2048, d_vocab=4
    )
    everything = set(itertools.product(range(2), repeat=12))
    assert set(rows(split.train_inputs)) | set(rows(split.test_inputs)) == everything
    assert (split.d_vocab, split.n_classes) == (4, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"p": 2, "seq_len": 3, "k": 2, "n_train": 6, "n_test": 3}, "exceeds the 8 distinct"),
        ({"k": 13}, "k <= seq_len"),
        ({"p": 1}, "at least 2"),
        ({"p": 4, "d_vocab": 3}, "d_vocab"),
    ],
)
def test_sparse_rejects_bad_arguments(kwargs, message):
    with pytest.raises(UsageError, match=message):
        SPARSE_MODULAR_ADDITION.build(**kwargs)


def test_arithmetic_tasks_are_registered_datasets():
    for name in ("modular-addition", "sparse-modular-addition"):
        task = tasks.get(name)
        assert task.kind == "dataset" and task.description
    with pytest.raises(UsageError, match="not prompt pairs"):
        tasks.load_pairs("modular-addition", tokenizer=None, n=4)
