"""Task metrics over the logits at the answer position, per example and differentiable.

Answer sets are ``[batch, n]`` token ids with ``-1`` for padding, so one function serves a
single answer (IOI, pronouns) and a set of answers (greater-than years, verb groups).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.errors import MechcircError, UsageError

__all__ = [
    "BASELINE_MIN_STDERRS",
    "BaselineGap",
    "METRICS",
    "Metric",
    "answer_logits",
    "baseline_gap",
    "logit_diff",
    "prob_diff",
]

Metric = Callable[[Tensor, Tensor, Tensor], Tensor]


def answer_logits(
    logits: Float[Tensor, "batch pos vocab"], answer_pos: Int[Tensor, " batch"]
) -> Float[Tensor, "batch vocab"]:
    """The logits at each row's answer position."""
    return logits[torch.arange(logits.shape[0], device=logits.device), answer_pos]


def _masked_gather(values: Float[Tensor, "batch vocab"], ids: Int[Tensor, "batch n"]):
    valid = ids >= 0
    gathered = values.gather(-1, ids.clamp(min=0))
    return gathered, valid.to(values.dtype)


def logit_diff(
    logits: Float[Tensor, "batch vocab"],
    correct: Int[Tensor, "batch n_correct"],
    incorrect: Int[Tensor, "batch n_incorrect"],
) -> Float[Tensor, " batch"]:
    """Mean logit of the correct answers minus mean logit of the incorrect ones."""
    good, good_mask = _masked_gather(logits, correct)
    bad, bad_mask = _masked_gather(logits, incorrect)
    return (good * good_mask).sum(-1) / good_mask.sum(-1) - (bad * bad_mask).sum(-1) / bad_mask.sum(
        -1
    )


def prob_diff(
    logits: Float[Tensor, "batch vocab"],
    correct: Int[Tensor, "batch n_correct"],
    incorrect: Int[Tensor, "batch n_incorrect"],
) -> Float[Tensor, " batch"]:
    """Probability mass on the correct answers minus mass on the incorrect ones."""
    probs = logits.float().softmax(-1).to(logits.dtype)
    good, good_mask = _masked_gather(probs, correct)
    bad, bad_mask = _masked_gather(probs, incorrect)
    return (good * good_mask).sum(-1) - (bad * bad_mask).sum(-1)


METRICS: dict[str, Metric] = {"logit_diff": logit_diff, "prob_diff": prob_diff}


# Clean and corrupted mean metrics closer than this (relative, or absolute near 0) are equal.
BASELINE_REL_TOL, BASELINE_ABS_TOL = 1e-6, 1e-9
# The gap must exceed this many standard errors of the per-example difference to be trusted.
BASELINE_MIN_STDERRS = 2.0


@dataclass(frozen=True)
class BaselineGap:
    """How far the clean and corrupted runs' metrics are apart, and whether that is signal.

    Every task metric is "higher = more correct", so the clean run should score above the
    corrupted one by more than the noise of the per-example differences. Normalized
    quantities (faithfulness, path-patching effects) divide by ``gap``; they mean nothing when
    ``reliable`` is False.
    """

    clean: float
    corrupted: float
    stderr: float  # of the mean per-example difference; nan for one example

    @property
    def gap(self) -> float:
        return self.clean - self.corrupted

    @property
    def equal(self) -> bool:
        return math.isclose(
            self.clean, self.corrupted, rel_tol=BASELINE_REL_TOL, abs_tol=BASELINE_ABS_TOL
        )

    @property
    def problem(self) -> str | None:
        """Why normalized quantities are unreliable, or None when they are fine."""
        if self.equal:
            return "clean and corrupted give the same mean metric"
        if self.gap < 0:
            return "the corrupted run scores above the clean one (inverted baselines)"
        if math.isfinite(self.stderr) and self.gap < BASELINE_MIN_STDERRS * self.stderr:
            return (
                f"clean - corrupted = {self.gap:.4g} is within {BASELINE_MIN_STDERRS:g} standard "
                f"errors ({self.stderr:.3g}) of zero"
            )
        return None

    @property
    def reliable(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, float | bool | str | None]:
        return {
            "clean": self.clean,
            "corrupted": self.corrupted,
            "gap": self.gap,
            "stderr": self.stderr,
            "reliable": self.reliable,
            "problem": self.problem,
        }

    def check(self, quantity: str) -> None:
        """Raise ``MechcircError`` when ``quantity`` (normalized by ``gap``) is undefined."""
        if self.equal:
            raise MechcircError(
                f"clean and corrupted runs give the same mean metric ({self.clean:.6g} vs "
                f"{self.corrupted:.6g}): {quantity} is undefined; use a task whose corruption "
                "changes the model's answer"
            )


def baseline_gap(clean: Float[Tensor, " n"], corrupted: Float[Tensor, " n"]) -> BaselineGap:
    """:class:`BaselineGap` of per-example clean and corrupted metrics (same examples)."""
    if clean.shape != corrupted.shape or clean.ndim != 1 or clean.numel() == 0:
        raise UsageError(
            f"clean and corrupted metrics must be equal-length 1-d tensors, got "
            f"{tuple(clean.shape)} and {tuple(corrupted.shape)}"
        )
    diff = (clean.double() - corrupted.double()).cpu()
    n = diff.numel()
    stderr = float(diff.std(unbiased=True) / math.sqrt(n)) if n > 1 else math.nan
    return BaselineGap(float(clean.double().mean()), float(corrupted.double().mean()), stderr)
