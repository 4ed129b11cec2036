"""How well a model does a prompt-pair task: the metric on clean and corrupted prompts, and
accuracy.

``measure_behaviour(model, pairs, config, run=None)`` follows the pattern of every analysis:
without a run folder nothing touches the disk; with one, ``behaviour.json`` (the headline
numbers) and ``behaviour.safetensors`` (the per-example metrics and correctness) are written and
the manifest's metrics set.

Accuracy is the fraction of clean prompts where the best correct answer's logit beats every
incorrect answer's logit (for single-answer tasks such as IOI: the correct name's logit is above
the other name's; for greater-than: some later year is above every earlier one).

Example:
    >>> result = measure_behaviour(model, pairs)     # doctest: +SKIP
    >>> result.metrics()["accuracy"]                 # doctest: +SKIP
    0.97
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.config import Config, require_positive_int
from mechcirc.models.protocol import HookedModel
from mechcirc.runs import RunFolder
from mechcirc.tasks import PromptPairs
from mechcirc.tasks.metrics import BaselineGap, answer_logits, baseline_gap

__all__ = ["Behaviour", "BehaviourConfig", "answer_correct", "measure_behaviour"]


@dataclass(frozen=True)
class BehaviourConfig(Config):
    """Settings of :func:`measure_behaviour`.

    Attributes:
        batch_size: prompts per forward pass (results do not depend on it).
    """

    batch_size: int = 32

    def validate(self) -> None:
        require_positive_int("batch_size", self.batch_size)


@dataclass(frozen=True)
class Behaviour:
    """Per-example metrics on clean and corrupted prompts, and whether each clean answer was
    right; ``clean`` / ``corrupted`` / ``accuracy`` are dataset means."""

    task: str
    metric: str
    clean_values: Float[Tensor, " n"]
    corrupted_values: Float[Tensor, " n"]
    correct: Bool[Tensor, " n"]

    @property
    def clean(self) -> float:
        return float(self.clean_values.double().mean())

    @property
    def corrupted(self) -> float:
        return float(self.corrupted_values.double().mean())

    @property
    def accuracy(self) -> float:
        return float(self.correct.double().mean())

    @property
    def baselines(self) -> BaselineGap:
        return baseline_gap(self.clean_values, self.corrupted_values)

    def metrics(self) -> dict[str, Any]:
        """Headline numbers, as the manifest and the sweep's behaviour table record them."""
        return {
            "task": self.task,
            "metric": self.metric,
            "n_examples": int(self.correct.numel()),
            "clean": self.clean,
            "corrupted": self.corrupted,
            "accuracy": self.accuracy,
            "baseline_gap": self.baselines.to_dict(),
        }


def answer_correct(
    logits: Float[Tensor, "batch vocab"],
    correct: Int[Tensor, "batch n_correct"],
    incorrect: Int[Tensor, "batch n_incorrect"],
) -> Bool[Tensor, " batch"]:
    """Whether the best correct answer's logit is above every incorrect answer's logit
    (``-1`` pads answer sets)."""
    floor = torch.finfo(logits.dtype).min
    good = logits.gather(-1, correct.clamp(min=0)).masked_fill(correct < 0, floor)
    bad = logits.gather(-1, incorrect.clamp(min=0)).masked_fill(incorrect < 0, floor)
    return good.max(-1).values > bad.max(-1).values


@torch.no_grad()
def measure_behaviour(
    model: HookedModel,
    pairs: PromptPairs,
    config: BehaviourConfig | None = None,
    run: RunFolder | None = None,
    *,
    progress: bool = False,
) -> Behaviour:
    """The task metric on every clean and corrupted prompt, and clean-prompt accuracy.

    Args:
        model: a hooked model (``mechcirc.load_model``); nothing on it is changed.
        pairs: the task's prompt pairs.
        config: settings (default ``BehaviourConfig()``).
        run: a run folder to write ``behaviour.json`` and ``behaviour.safetensors`` into, or
            None (nothing touches the disk).
        progress: show a progress bar over batches.
    """
    config = config or BehaviourConfig()
    device = next(model.parameters()).device
    clean, corrupted, correct = [], [], []
    batches = list(pairs.batches(config.batch_size))
    for batch in tqdm(batches, desc=f"behaviour {pairs.task}", disable=not progress):
        batch = batch.to(device)
        clean_logits = answer_logits(model(batch.clean), batch.answer_pos).float()
        corrupted_logits = answer_logits(model(batch.corrupted), batch.answer_pos).float()
        clean.append(batch.metric_at_answer(clean_logits).cpu())
        corrupted.append(batch.metric_at_answer(corrupted_logits).cpu())
        correct.append(answer_correct(clean_logits, batch.correct, batch.incorrect).cpu())
    result = Behaviour(
        pairs.task, pairs.metric, torch.cat(clean), torch.cat(corrupted), torch.cat(correct)
    )
    if run is not None:
        _write_outputs(run, result)
    return result


def _write_outputs(run: RunFolder, result: Behaviour) -> None:
    metrics = result.metrics()
    run.save_json("behaviour.json", metrics)
    run.save_tensors(
        "behaviour.safetensors",
        {
            "clean": result.clean_values,
            "corrupted": result.corrupted_values,
            "correct": result.correct,
        },
        metadata={"task": result.task, "metric": result.metric},
    )
    run.update(metrics=metrics)
