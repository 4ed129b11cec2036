"""Behaviour of a language model on the micro-Pythia's tasks, measured on prompt pairs.

``task_behaviour`` runs the clean prompts and reads the task's metric at the answer position
(IOI, gendered pronoun, subject-verb agreement: logit difference; greater-than: probability
difference); accuracy is the fraction of examples where it is positive. ``unused_mass`` is the
probability the model puts on tokens outside a given vocabulary at the answer positions.

Example:
    >>> model = mechcirc.load_model("micro-pythia", revision="step3000")      # doctest: +SKIP
    >>> pairs = tasks.load_pairs("ioi", model.tokenizer, n=64, seed=0)        # doctest: +SKIP
    >>> task_behaviour(model, pairs).accuracy                                 # doctest: +SKIP
    1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc import tasks
from mechcirc.tasks import PromptPairs
from mechcirc.tasks.metrics import answer_logits

__all__ = [
    "Behaviour",
    "TASKS",
    "answer_position_logits",
    "behaviours",
    "task_behaviour",
    "unused_mass",
]

TASKS = ("ioi", "greater-than", "gendered-pronoun", "subject-verb-agreement")


@dataclass(frozen=True)
class Behaviour:
    """The mean metric of a task's clean prompts and the fraction where it is positive."""

    task: str
    metric: str
    mean: float
    accuracy: float
    n: int


@torch.no_grad()
def answer_position_logits(
    model, pairs: PromptPairs, batch_size: int = 16
) -> Float[Tensor, "batch vocab"]:
    """The clean prompts' logits at the answer position, in float32 on the CPU."""
    device = model.W_U.device
    rows = []
    for batch in pairs.batches(batch_size):
        logits = model(batch.clean.to(device))
        rows.append(answer_logits(logits, batch.answer_pos.to(device)).float().cpu())
    return torch.cat(rows)


def task_behaviour(model, pairs: PromptPairs, batch_size: int = 16) -> Behaviour:
    """Mean metric and accuracy of ``model`` on ``pairs`` (see the module docstring)."""
    values = pairs.metric_at_answer(answer_position_logits(model, pairs, batch_size))
    return Behaviour(
        pairs.task,
        pairs.metric,
        float(values.mean()),
        float((values > 0).float().mean()),
        len(pairs),
    )


def behaviours(
    model, names: Sequence[str] = TASKS, *, n: int = 64, seed: int = 0
) -> dict[str, Behaviour]:
    """``task_behaviour`` for each task, on ``n`` pairs drawn with ``seed``."""
    return {
        name: task_behaviour(model, tasks.load_pairs(name, model.tokenizer, n=n, seed=seed))
        for name in names
    }


def unused_mass(model, pairs: PromptPairs, used: Iterable[int]) -> Float[Tensor, " batch"]:
    """Per example, the probability on tokens outside ``used`` at the answer position."""
    probs = answer_position_logits(model, pairs).double().softmax(-1)
    outside = torch.ones(probs.shape[-1], dtype=torch.bool)
    outside[torch.tensor(sorted(used), dtype=torch.long)] = False
    return probs[:, outside].sum(-1)
