"""Fourier key-frequency proxies of the generalising and memorising circuits (Varma et al.).

The generalising algorithm for ``a + b mod P`` (Nanda et al.) gives logits
``sum_k alpha_k cos(w_k (a + b - c)) + beta_k sin(w_k (a + b - c))`` over a few key
frequencies ``w_k = 2 pi k / P``. For logits on all ``P^2`` inputs, laid out as ``[a, b, c]``
and centred over the class ``c``, the coefficients along ``d = (a + b - c) mod P`` are

    alpha_k = (2 / P^3) sum_{a,b,c} L(a, b, c) cos(w_k d),   beta_k likewise with sin,

(the functions are orthogonal on the grid, each with squared norm ``P^3 / 2``). Given the key
frequencies ``K`` of a model:

- ``C_gen`` proxy: ``sum_{k in K} alpha_k``, the correct-class logit the key-frequency component
  gives *every* pair (``cos 0 = 1`` at ``c = a + b``), train and test alike;
- ``C_mem`` proxy: the mean correct-class logit on the training pairs minus ``C_gen``: what the
  rest of the logits add on the pairs the model was trained on (on unseen pairs, the same
  residual is what memorisation gives them, about zero or below);
- ``key_share``: the share of the centred logits' energy in the key-frequency subspace.

:class:`FourierProbe` records every coefficient (and the correct-class logits) at each
evaluation of a :class:`~mechcirc.training.Trainer`, so the proxies can be
computed afterwards with the key frequencies of the final model (:func:`proxies_over_training`).

Example:
    >>> import math, torch
    >>> P = 7
    >>> d = (torch.arange(P)[:, None, None] + torch.arange(P)[None, :, None]
    ...      - torch.arange(P)[None, None, :]) % P
    >>> spectrum = diagonal_spectrum(2.0 * torch.cos(2 * math.pi * 3 * d / P))
    >>> round(float(spectrum[2, 0]), 6), key_frequencies(spectrum)   # k = 3: alpha 2
    (2.0, [3])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.tasks.modular_addition import all_pairs

__all__ = [
    "FourierProbe",
    "circuit_proxies",
    "diagonal_spectrum",
    "key_frequencies",
    "proxies_over_training",
    "spectrum_columns",
    "spectrum_of",
]


def _diagonal_index(p: int) -> Tensor:
    a = torch.arange(p)
    return (a[:, None, None] + a[None, :, None] - a[None, None, :]) % p


def diagonal_spectrum(logits: Float[Tensor, "a b c"]) -> Float[Tensor, "freq 2"]:
    """``[alpha_k, beta_k]`` for ``k = 1 .. (P - 1) / 2`` of the logits centred over ``c``."""
    p = logits.shape[0]
    if logits.shape != (p, p, p) or p < 3 or p % 2 == 0:
        raise UsageError(f"expected logits [P, P, P] for an odd P >= 3, got {tuple(logits.shape)}")
    centred = (logits - logits.mean(-1, keepdim=True)).double()
    per_d = torch.zeros(p, dtype=torch.float64)
    per_d.index_add_(0, _diagonal_index(p).flatten(), centred.flatten())
    k = torch.arange(1, (p - 1) // 2 + 1, dtype=torch.float64)
    angles = 2 * math.pi * k[:, None] * torch.arange(p, dtype=torch.float64)[None] / p
    scale = 2.0 / p**3
    return torch.stack(
        [scale * (per_d * angles.cos()).sum(1), scale * (per_d * angles.sin()).sum(1)], dim=1
    ).float()


def key_frequencies(spectrum: Float[Tensor, "freq 2"], share: float = 0.9) -> list[int]:
    """The fewest frequencies ``k`` (1-based) holding ``share`` of the diagonal power."""
    if not 0 < share <= 1:
        raise UsageError(f"share must be in (0, 1], got {share}")
    power = spectrum.double().pow(2).sum(1)
    order = torch.argsort(power, descending=True)
    cumulative = power[order].cumsum(0) / power.sum().clamp_min(1e-30)
    count = int((cumulative < share - 1e-12).sum()) + 1
    return sorted(int(k) + 1 for k in order[:count])


def circuit_proxies(
    spectrum: Float[Tensor, "freq 2"],
    keys: Sequence[int],
    *,
    train_correct: float,
    test_correct: float | None = None,
    mean_square: float | None = None,
) -> dict[str, float]:
    """``C_gen`` / ``C_mem`` proxies from a spectrum and the mean centred correct logits."""
    index = torch.tensor([k - 1 for k in keys], dtype=torch.long)
    chosen = spectrum[index].double()
    c_gen = float(chosen[:, 0].sum())
    found = {"c_gen": c_gen, "c_mem": train_correct - c_gen}
    if test_correct is not None:
        found["test_residual"] = test_correct - c_gen
    if mean_square:
        found["key_share"] = float(chosen.pow(2).sum() / 2 / mean_square)
    return found


def spectrum_columns(p: int) -> list[str]:
    """Metrics-table columns a :class:`FourierProbe` writes for modulus ``p``."""
    ks = range(1, (p - 1) // 2 + 1)
    return [f"fourier_{part}_{k}" for k in ks for part in ("cos", "sin")]


class FourierProbe:
    """Trainer probe: the diagonal spectrum and mean centred correct logits on all pairs.

    ``train_inputs`` are the pairs the model trains on (their correct logits give ``C_mem``);
    the row also holds ``logit_mean_square``, the centred logits' mean square over the grid.
    """

    def __init__(self, p: int, train_inputs: Tensor, logits_fn) -> None:
        self.p, self.logits_fn = p, logits_fn
        self.inputs, labels = all_pairs(p)
        self.labels = labels
        rows = train_inputs[:, 0] * p + train_inputs[:, 1]
        self.train_mask = torch.zeros(p * p, dtype=torch.bool)
        self.train_mask[rows] = True

    def __call__(self, trainer) -> dict[str, float]:
        return self.of_model(trainer.model)

    @torch.no_grad()
    def of_model(self, model) -> dict[str, float]:
        """The probe's row for ``model`` (its logits on every pair)."""
        return self.measure(self.logits_fn(model, self.inputs).float())

    def measure(self, logits: Float[Tensor, "pairs classes"]) -> dict[str, float]:
        centred = logits - logits.mean(-1, keepdim=True)
        correct = centred.gather(1, self.labels[:, None])[:, 0]
        spectrum = diagonal_spectrum(logits.view(self.p, self.p, self.p))
        row = {
            "train_correct_logit": float(correct[self.train_mask].mean()),
            "test_correct_logit": float(correct[~self.train_mask].mean())
            if (~self.train_mask).any()
            else math.nan,
            "logit_mean_square": float(centred.pow(2).mean()),
        }
        row.update(zip(spectrum_columns(self.p), spectrum.flatten().tolist(), strict=True))
        return row


def spectrum_of(row: pd.Series | dict, p: int) -> Float[Tensor, "freq 2"]:
    """The spectrum a :class:`FourierProbe` stored in one metrics row."""
    values = [float(row[column]) for column in spectrum_columns(p)]
    return torch.tensor(values).view(-1, 2)


def proxies_over_training(
    metrics: pd.DataFrame, p: int, keys: Sequence[int] | None = None, share: float = 0.9
) -> tuple[pd.DataFrame, list[int]]:
    """``step``, ``c_gen``, ``c_mem``, ``test_residual``, ``key_share``, ``param_norm`` per row.

    ``keys`` default to the key frequencies of the last row (the final model).
    """
    if keys is None:
        keys = key_frequencies(spectrum_of(metrics.iloc[-1], p), share)
    rows = []
    for _, row in metrics.iterrows():
        found = circuit_proxies(
            spectrum_of(row, p),
            keys,
            train_correct=float(row["train_correct_logit"]),
            test_correct=float(row["test_correct_logit"]),
            mean_square=float(row["logit_mean_square"]),
        )
        rows.append({"step": int(row["step"]), **found, "param_norm": float(row["param_norm"])})
    return pd.DataFrame(rows), list(keys)
