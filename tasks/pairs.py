"""``PromptPairs``: the batch every circuit analysis consumes.

Clean and corrupted prompts have equal length within a pair; a batch is right-padded and shares
one attention mask between clean and corrupted, so the metric reads the last real token of each
row. Answers are token-id sets (``-1`` pads ragged sets) and the metric is named, so a batch
serialises to JSON lines and back without code.

Example:
    >>> import torch
    >>> pairs = PromptPairs(
    ...     clean=torch.tensor([[5, 6, 7]]), corrupted=torch.tensor([[5, 8, 7]]),
    ...     attention_mask=torch.ones(1, 3, dtype=torch.long),
    ...     correct=torch.tensor([[1]]), incorrect=torch.tensor([[2]]),
    ... )
    >>> logits = torch.zeros(1, 3, 10); logits[0, 2, 1] = 3.0
    >>> pairs.evaluate(logits)
    tensor([3.])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.tasks.metrics import METRICS, answer_logits

__all__ = ["PromptPairs", "validate_pairs"]


@dataclass(frozen=True)
class PromptPairs:
    """Clean/corrupted token ids, a shared attention mask, answer sets and a metric name."""

    clean: Int[Tensor, "batch pos"]
    corrupted: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    correct: Int[Tensor, "batch n_correct"]
    incorrect: Int[Tensor, "batch n_incorrect"]
    metric: str = "logit_diff"
    task: str = "custom"
    # Named per-example token positions (e.g. IOI's "io", "s1", "s2"), sliced with the batch.
    positions: dict[str, Int[Tensor, " batch"]] = field(default_factory=dict)
    # Free-form, JSON-serialisable task details (template names, options); not per example.
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_pairs(self)

    def __len__(self) -> int:
        return self.clean.shape[0]

    @property
    def answer_pos(self) -> Int[Tensor, " batch"]:
        """Index of the last real token in each row: where the metric reads the logits."""
        return self.attention_mask.sum(-1) - 1

    def select(self, index: slice | Tensor) -> PromptPairs:
        """Rows ``index``, with trailing all-padding columns trimmed."""
        mask = self.attention_mask[index]
        width = int(mask.sum(-1).max()) if mask.numel() else 0
        return replace(
            self,
            clean=self.clean[index][:, :width],
            corrupted=self.corrupted[index][:, :width],
            attention_mask=mask[:, :width],
            correct=self.correct[index],
            incorrect=self.incorrect[index],
            positions={name: pos[index] for name, pos in self.positions.items()},
        )

    def batches(self, batch_size: int) -> Iterator[PromptPairs]:
        """Consecutive batches of at most ``batch_size`` rows."""
        if batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {batch_size}")
        for start in range(0, len(self), batch_size):
            yield self.select(slice(start, start + batch_size))

    def to(self, device: torch.device | str) -> PromptPairs:
        tensors = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        positions = {name: pos.to(device) for name, pos in self.positions.items()}
        return replace(self, **tensors, positions=positions)

    def metric_at_answer(self, logits: Float[Tensor, "batch vocab"]) -> Float[Tensor, " batch"]:
        """The per-example metric from the logits already read at ``answer_pos``."""
        return METRICS[self.metric](logits, self.correct, self.incorrect)

    def evaluate(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, " batch"]:
        """The per-example metric from full logits (differentiable; the mean is yours)."""
        return self.metric_at_answer(answer_logits(logits, self.answer_pos))


def validate_pairs(pairs: PromptPairs) -> None:
    """Check shapes, the metric name and answer padding; raise ``UsageError`` naming them."""
    if pairs.clean.ndim != 2 or pairs.clean.shape != pairs.corrupted.shape:
        raise UsageError(
            "clean and corrupted must both be [batch, pos] with equal lengths per pair; got "
            f"{tuple(pairs.clean.shape)} and {tuple(pairs.corrupted.shape)}"
        )
    if pairs.attention_mask.shape != pairs.clean.shape:
        raise UsageError(
            f"attention_mask must be [batch, pos] = {tuple(pairs.clean.shape)}, "
            f"got {tuple(pairs.attention_mask.shape)}"
        )
    n = pairs.clean.shape[0]
    for name in ("correct", "incorrect"):
        answers = getattr(pairs, name)
        if answers.ndim != 2 or answers.shape[0] != n:
            raise UsageError(
                f"{name} must be [batch, n_answers] with batch {n}, got {tuple(answers.shape)}"
            )
        if answers.numel() and bool(((answers < 0).all(-1)).any()):
            raise UsageError(f"every row of {name} needs at least one answer token (-1 is padding)")
    if pairs.metric not in METRICS:
        raise UsageError(f"unknown metric {pairs.metric!r}: expected one of {', '.join(METRICS)}")
    for name, pos in pairs.positions.items():
        if pos.shape != (n,):
            raise UsageError(
                f"positions[{name!r}] must be [batch] = ({n},), got {tuple(pos.shape)}"
            )
    if n and bool((pairs.attention_mask.sum(-1) < 1).any()):
        raise UsageError("every prompt needs at least one real token (attention_mask all zero)")
