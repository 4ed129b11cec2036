"""Task metrics over the logits at the answer position, per example and differentiable.

Answer sets are ``[batch, n]`` token ids with ``-1`` for padding, so one function serves a
single answer (IOI, pronouns) and a set of answers (greater-than years, verb groups).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from torch import Tensor

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
