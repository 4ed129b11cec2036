"""Fourier key-frequency proxies on hand-built logit tables with known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from mechcirc.analyses.training.fourier import (
    FourierProbe,
    circuit_proxies,
    diagonal_spectrum,
    key_frequencies,
    proxies_over_training,
)
from mechcirc.errors import UsageError
from mechcirc.tasks.modular_addition import all_pairs

P = 11


def grid() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.arange(P)
    return a[:, None, None], a[None, :, None], a[None, None, :]


def planted() -> torch.Tensor:
    """2 cos(w_3 d) + 0.5 sin(w_1 d) + a term that does not depend on the class c."""
    a, b, c = grid()
    d = (a + b - c) % P
    w = 2 * math.pi / P
    return 2.0 * torch.cos(w * 3 * d) + 0.5 * torch.sin(w * d) + (a * b).float().expand(P, P, P)


def test_spectrum_recovers_planted_coefficients():
    spectrum = diagonal_spectrum(planted())
    expected = torch.zeros((P - 1) // 2, 2)
    expected[2, 0], expected[0, 1] = 2.0, 0.5
    torch.testing.assert_close(spectrum, expected, atol=1e-5, rtol=0)
    assert key_frequencies(spectrum, share=0.9) == [3]  # power 4 of 4.25
    assert key_frequencies(spectrum, share=0.99) == [1, 3]


def test_a_lookup_of_a_plus_b_is_all_generalising():
    """L = M * 1[c = a + b] on every pair depends on a + b - c only: with every frequency as a
    key, C_gen is the whole centred correct logit M (1 - 1/P) and C_mem is zero."""
    a, b, c = grid()
    m = 3.0
    logits = m * (c == (a + b) % P).float()
    spectrum = diagonal_spectrum(logits)
    torch.testing.assert_close(spectrum[:, 0], torch.full(((P - 1) // 2,), 2 * m / P))
    correct = m * (1 - 1 / P)
    found = circuit_proxies(
        spectrum, range(1, (P + 1) // 2), train_correct=correct, mean_square=None
    )
    assert found["c_gen"] == pytest.approx(correct, abs=1e-5)
    assert found["c_mem"] == pytest.approx(0.0, abs=1e-5)


def test_probe_separates_memorised_train_pairs_from_the_key_frequency_circuit():
    """Key-frequency logits everywhere plus a bonus M on the correct class of training pairs
    only: C_gen is the key coefficient plus the bonus's share of that frequency, C_mem the rest
    of the bonus, and the unseen pairs get the key component alone."""
    inputs, labels = all_pairs(P)
    a, b, c = grid()
    key = 1.5 * torch.cos(2 * math.pi * 2 * ((a + b - c) % P) / P).reshape(P * P, P)
    train = torch.arange(P * P) % 3 == 0
    bonus = torch.zeros(P * P, P)
    bonus[train, labels[train]] = 4.0
    probe = FourierProbe(P, inputs[train], logits_fn=None)
    row = probe.measure(key + bonus)
    bonus_row = probe.measure(bonus)
    found = circuit_proxies(
        torch.tensor([[row[f"fourier_cos_{k}"], row[f"fourier_sin_{k}"]] for k in range(1, 6)]),
        [2],
        train_correct=row["train_correct_logit"],
        test_correct=row["test_correct_logit"],
    )
    assert found["c_gen"] == pytest.approx(1.5 + bonus_row["fourier_cos_2"], abs=1e-5)
    assert found["c_mem"] == pytest.approx(4.0 * (1 - 1 / P) - bonus_row["fourier_cos_2"], abs=1e-4)
    # The bonus projects evenly on every frequency: (2 / P^3) * n_train * M, a third of a lookup.
    assert bonus_row["fourier_cos_2"] == pytest.approx(2 * int(train.sum()) * 4.0 / P**3)
    assert row["test_correct_logit"] == pytest.approx(1.5, abs=1e-5)  # no bonus on unseen


def test_proxies_over_training_use_the_last_rows_key_frequencies():
    inputs, _ = all_pairs(P)
    probe = FourierProbe(P, inputs[:40], logits_fn=None)
    a, b, c = grid()
    d = (a + b - c) % P
    rows = []
    for step, scale in ((0, 0.1), (10, 1.0)):
        logits = scale * torch.cos(2 * math.pi * 4 * d / P) + 0.01 * torch.cos(2 * math.pi * d / P)
        rows.append({"step": step, "param_norm": 1.0, **probe.measure(logits.reshape(P * P, P))})
    table, keys = proxies_over_training(pd.DataFrame(rows), P)
    assert keys == [4]
    assert table["c_gen"].tolist() == pytest.approx([0.1, 1.0], abs=1e-5)
    assert table["key_share"].iloc[-1] == pytest.approx(1 / (1 + 0.01**2), abs=1e-4)


def test_spectrum_rejects_bad_shapes():
    with pytest.raises(UsageError, match="P, P, P"):
        diagonal_spectrum(torch.zeros(4, 4, 5))
