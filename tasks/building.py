"""From template choices to a validated ``PromptPairs`` batch.

A task describes one example as *segments* of text (template pieces and filled-in words),
clean and corrupted alike. ``segment_pair`` tokenizes both, checks that every segment boundary
is a token boundary, that the pair has equal length and that the two prompts differ exactly at
the segments the corruption changes; ``sample_examples`` draws distinct valid examples with a
seed; ``assemble`` right-pads them into a batch.

Example:
    >>> from mechcirc.models.tokenizers import pythia_tokenizer
    >>> tok = pythia_tokenizer()
    >>> ex = segment_pair(
    ...     tok, ["When", " Mary", " left,"], ["When", " John", " left,"],
    ...     slots={"name": 1}, changed=[1], correct=[1], incorrect=[2],
    ... )
    >>> ex.positions
    {'name': 2, 'end': 4}
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from mechcirc.errors import UsageError
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.tokens import pad_id, tokenize_segments, tokenizer_label

__all__ = ["Example", "assemble", "sample_examples", "segment_pair"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One clean/corrupted pair as unpadded token ids, with answers and named positions."""

    clean: tuple[int, ...]
    corrupted: tuple[int, ...]
    correct: tuple[int, ...]
    incorrect: tuple[int, ...]
    positions: dict[str, int] = field(default_factory=dict)


def segment_pair(
    tokenizer,
    clean: Sequence[str],
    corrupted: Sequence[str],
    *,
    slots: Mapping[str, int],
    changed: Sequence[int],
    correct: Sequence[int],
    incorrect: Sequence[int],
) -> Example | None:
    """Tokenize a clean/corrupted pair given as segments; ``None`` if it is not a valid pair.

    ``slots`` names segments whose first-token index becomes a position (``"end"``, the last
    token, is added); ``changed`` lists the segments the corruption replaces. Valid means:
    segment boundaries fall on token boundaries in both prompts, each changed segment is one
    token in both, and the token ids differ exactly at those positions.
    """
    clean_tok = tokenize_segments(tokenizer, clean)
    corrupt_tok = tokenize_segments(tokenizer, corrupted)
    if clean_tok is None or corrupt_tok is None:
        return None
    (clean_ids, starts), (corrupt_ids, corrupt_starts) = clean_tok, corrupt_tok
    if len(clean_ids) != len(corrupt_ids) or starts != corrupt_starts:
        return None
    ends = [*starts[1:], len(clean_ids)]
    if any(ends[k] - starts[k] != 1 for k in changed):
        return None
    differ = {i for i, (a, b) in enumerate(zip(clean_ids, corrupt_ids, strict=True)) if a != b}
    if differ != {starts[k] for k in changed}:
        return None
    positions = {name: starts[k] for name, k in slots.items()}
    positions["end"] = len(clean_ids) - 1
    return Example(
        tuple(clean_ids), tuple(corrupt_ids), tuple(correct), tuple(incorrect), positions
    )


def sample_examples(
    draw: Callable[[random.Random], Hashable],
    build: Callable[[Hashable], Example | None],
    n: int,
    seed: int,
    *,
    task: str,
    tokenizer,
    hint: str,
) -> list[Example]:
    """``n`` distinct valid examples: ``draw`` picks template choices, ``build`` tokenizes them.

    Raises ``UsageError`` naming the count reached when the tokenizer cannot give ``n``
    (``hint`` says what the task needs from a tokenizer).
    """
    if n < 1:
        raise UsageError(f"n must be a positive number of examples, got {n}")
    rng = random.Random(seed)
    seen_keys: set[Hashable] = set()
    seen_ids: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    found: list[Example] = []
    budget = 20 * n + 2000  # draws of template choices: cheap, most are valid
    for _ in range(budget):
        key = draw(rng)
        if key in seen_keys:
            continue
        seen_keys.add(key)
        example = build(key)
        if example is None or (example.clean, example.corrupted) in seen_ids:
            continue
        seen_ids.add((example.clean, example.corrupted))
        found.append(example)
        if len(found) == n:
            log.info("%s: %d examples from %d distinct draws", task, n, len(seen_keys))
            return found
    raise UsageError(
        f"task {task!r} made only {len(found)} distinct valid examples of the {n} requested "
        f"with tokenizer {tokenizer_label(tokenizer)} ({len(seen_keys)} distinct template "
        f"choices tried). Ask for at most {len(found)} (--n {max(len(found), 1)}), or use a "
        f"tokenizer in which {hint}."
    )


def _padded(rows: Sequence[Sequence[int]], fill: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def assemble(
    examples: Sequence[Example],
    tokenizer=None,
    *,
    metric: str,
    task: str,
    meta: dict | None = None,
    padding_id: int | None = None,
) -> PromptPairs:
    """Right-pad examples into a ``PromptPairs`` (answer sets padded with ``-1``)."""
    if not examples:
        raise UsageError(f"task {task!r}: no examples to assemble")
    for i, ex in enumerate(examples):
        if len(ex.clean) != len(ex.corrupted):
            raise UsageError(
                f"example {i} of {task!r}: clean has {len(ex.clean)} tokens but corrupted has "
                f"{len(ex.corrupted)}; a pair must have equal lengths (pad or reword the prompt)"
            )
    fill = padding_id if padding_id is not None else (pad_id(tokenizer) if tokenizer else 0)
    mask_rows = [[1] * len(ex.clean) for ex in examples]
    names = sorted({name for ex in examples for name in ex.positions})
    missing = [name for name in names if any(name not in ex.positions for ex in examples)]
    if missing:
        raise UsageError(f"task {task!r}: positions {missing} are missing from some examples")
    return PromptPairs(
        clean=_padded([ex.clean for ex in examples], fill),
        corrupted=_padded([ex.corrupted for ex in examples], fill),
        attention_mask=_padded(mask_rows, 0),
        correct=_padded([ex.correct for ex in examples], -1),
        incorrect=_padded([ex.incorrect for ex in examples], -1),
        metric=metric,
        task=task,
        positions={name: torch.tensor([ex.positions[name] for ex in examples]) for name in names},
        meta=dict(meta or {}),
    )
