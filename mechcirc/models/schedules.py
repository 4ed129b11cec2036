"""Checkpoint schedules: which training steps a model was saved at, and revision specs over them.

A revision spec is a comma-separated list whose items are

- a named schedule: ``all`` (every released checkpoint; the 154 of Pythia), ``log`` (0, 1, 2,
  4, ..., 512), ``linear`` (every 1000 steps) or ``sparse`` (the 28 checkpoints of Tigges et
  al. 2024: 256, 512, 1k-9k every 1k, 10k-45k every 5k, 50k-90k every 10k, 100k, 120k, 140k,
  143k);
- a range ``START:STOP:STEP`` (``step1000:step143000:1000``, both ends included);
- one revision: ``step1000``, ``1000``, or, for models whose schedule is unknown, any hub
  branch, tag or commit.

:func:`expand_revisions` turns a spec into the model's revisions, sorted by step, and refuses
(``UsageError`` naming the item) any step the model never saved. ``tokens = step x
tokens_per_step(model)`` (2,097,152 for Pythia: 1024 sequences of 2048 tokens per step).

Example:
    >>> [r.name for r in expand_revisions("step0,log", "EleutherAI/pythia-70m")][:4]
    ['step0', 'step1', 'step2', 'step4']
    >>> len(expand_revisions("sparse", "EleutherAI/pythia-160m"))
    28
    >>> tokens_per_step("EleutherAI/pythia-160m")
    2097152
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mechcirc.errors import UsageError
from mechcirc.models.micro_spec import MICRO_PYTHIA_ID, load_spec
from mechcirc.models.names import PYTHIA_SCHEDULE_TEXT, PYTHIA_STEPS, is_pythia, known_steps

__all__ = [
    "NAMED_SCHEDULES",
    "PYTHIA_TOKENS_PER_STEP",
    "Revision",
    "checkpoint_steps",
    "expand_revisions",
    "register_schedule",
    "revision_step",
    "tokens_per_step",
]

PYTHIA_TOKENS_PER_STEP = 2_097_152

NAMED_SCHEDULES: dict[str, tuple[int, ...] | None] = {
    "all": None,  # every checkpoint of the model's own schedule
    "log": (0, *(2**i for i in range(10))),
    "linear": tuple(range(1000, 143001, 1000)),
    "sparse": (
        256,
        512,
        *range(1000, 10000, 1000),
        *range(10000, 50000, 5000),
        *range(50000, 100000, 10000),
        100000,
        120000,
        140000,
        143000,
    ),
}

# Models outside Pythia whose checkpoints are known: hub id -> (steps, tokens per step).
_SCHEDULES: dict[str, tuple[tuple[int, ...], int]] = {}

_STEP = re.compile(r"^(?:step)?(\d+)$")


@dataclass(frozen=True, order=True)
class Revision:
    """One checkpoint: its hub revision name and training step (None for a branch or commit)."""

    step: int | None
    name: str


def register_schedule(model_id: str, steps: tuple[int, ...], tokens_per_step: int) -> None:
    """Declare the checkpoints (``stepN`` revisions) of a non-Pythia model, e.g. a built-in one."""
    if not steps or any(not isinstance(s, int) or s < 0 for s in steps):
        raise UsageError(f"steps must be non-negative integers, got {steps!r}")
    _SCHEDULES[model_id.lower()] = (tuple(sorted(set(steps))), int(tokens_per_step))


def checkpoint_steps(model_id: str) -> tuple[int, ...] | None:
    """Every step the model was saved at (Pythia's 154, the micro-Pythia's, or a registered
    schedule); None if unknown."""
    registered = _SCHEDULES.get(model_id.lower())
    return registered[0] if registered else known_steps(model_id)


def tokens_per_step(model_id: str) -> int | None:
    """Training tokens per optimizer step (2,097,152 for Pythia; the micro-Pythia's average
    trained tokens per step); None if unknown."""
    if is_pythia(model_id):
        return PYTHIA_TOKENS_PER_STEP
    if model_id.lower() == MICRO_PYTHIA_ID:
        return load_spec().training.get("tokens_per_step")
    registered = _SCHEDULES.get(model_id.lower())
    return registered[1] if registered else None


def revision_step(revision: str) -> int | None:
    """``"step1000"`` or ``"1000"`` -> 1000; any other revision -> None."""
    match = _STEP.match(str(revision).strip())
    return int(match.group(1)) if match else None


def expand_revisions(spec: str, model_id: str) -> list[Revision]:
    """The revisions a spec names for ``model_id``, deduplicated and sorted by step.

    Raises:
        UsageError: naming the item, for an unknown schedule name, a malformed range, a step
            the model never saved, or a named schedule for a model with no known schedule.
    """
    items = [item.strip() for item in str(spec).split(",") if item.strip()]
    if not items:
        raise UsageError(f"--revisions {spec!r} names no revision: {_SPEC_HELP}")
    known = checkpoint_steps(model_id)
    found: dict[str, Revision] = {}
    for item in items:
        for revision in _expand_item(item, model_id, known):
            found.setdefault(revision.name, revision)
    return sorted(found.values(), key=lambda r: (r.step is None, r.step or 0, r.name))


_SPEC_HELP = (
    "give a comma-separated list of revisions (step0,step1000,143000), ranges "
    "(step1000:step143000:1000) or schedules (all, log, linear, sparse)"
)


def _expand_item(item: str, model_id: str, known: tuple[int, ...] | None) -> list[Revision]:
    if item in NAMED_SCHEDULES:
        if known is None:
            raise UsageError(
                f"revision schedule {item!r}: {model_id} has no known checkpoint schedule; "
                "list its revisions explicitly (e.g. step0,step1000)"
            )
        steps = NAMED_SCHEDULES[item] or known
        return [_checked(f"step{s}", s, item, model_id, known) for s in steps]
    if item.count(":") == 2:
        return [_checked(f"step{s}", s, item, model_id, known) for s in _range_steps(item)]
    step = revision_step(item)
    if step is None:
        if known is not None or ":" in item:
            raise UsageError(f"revision {item!r} of {model_id} is not a step: {_SPEC_HELP}")
        return [Revision(None, item)]
    return [_checked(f"step{step}", step, item, model_id, known)]


def _range_steps(item: str) -> range:
    parts = [revision_step(part) for part in item.split(":")]
    if None in parts or parts[2] == 0 or parts[0] > parts[1]:
        raise UsageError(
            f"revision range {item!r}: expected START:STOP:STEP with START <= STOP and STEP > 0, "
            "e.g. step1000:step143000:1000"
        )
    start, stop, step = parts
    return range(start, stop + 1, step)


def _checked(
    name: str, step: int, item: str, model_id: str, known: tuple[int, ...] | None
) -> Revision:
    if known is not None and step not in known:
        nearest = min(known, key=lambda s: abs(s - step))
        source = "" if item == name else f" (from {item!r})"
        raise UsageError(
            f"{model_id} has no checkpoint {name}{source}: its checkpoints "
            f"are at steps {_describe(known)} (nearest: step{nearest})"
        )
    return Revision(step, name)


def _describe(steps: tuple[int, ...]) -> str:
    if steps == PYTHIA_STEPS:
        return PYTHIA_SCHEDULE_TEXT
    shown = ", ".join(map(str, steps[:8]))
    return f"{shown}{', ...' if len(steps) > 8 else ''} ({len(steps)} in all)"
