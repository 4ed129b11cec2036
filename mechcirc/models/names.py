"""Short model names, hub ids and checkpoint revisions (Pythia's and the micro-Pythia's).

Short names cover the whole Pythia suite (``pythia-70m`` ... ``pythia-12b`` and their
``-deduped`` variants), the GPT-2 family and the built-in ``micro-pythia``
(``mechcirc/micro-pythia``, written by ``mechcirc models build-offline``). Anything else that
looks like a hub id (``owner/name``) or a local path passes through untouched.

Example:
    >>> resolve_model_id("pythia-160m")
    'EleutherAI/pythia-160m'
    >>> normalize_revision(143000, "EleutherAI/pythia-160m")
    'step143000'
    >>> known_steps("mechcirc/micro-pythia")[0]
    0
"""

from __future__ import annotations

import difflib
import functools
import re

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.micro_spec import MICRO_PYTHIA_ID

__all__ = [
    "GPT2_IDS",
    "PYTHIA_SCHEDULE_TEXT",
    "PYTHIA_SIZES",
    "PYTHIA_STEPS",
    "REVISION_FORMS_TEXT",
    "SHORT_NAMES",
    "check_revision_form",
    "is_pythia",
    "known_steps",
    "normalize_revision",
    "resolve_model_id",
    "schedule_text",
]

PYTHIA_SIZES = ("14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")

GPT2_IDS = {
    "gpt2": "openai-community/gpt2",
    "gpt2-small": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
    "distilgpt2": "distilbert/distilgpt2",
}


def _pythia_ids() -> dict[str, str]:
    ids: dict[str, str] = {}
    for size in PYTHIA_SIZES:
        for suffix in ("", "-deduped"):
            short = f"pythia-{size}{suffix}"
            ids[short] = f"EleutherAI/{short}"
    return ids


SHORT_NAMES: dict[str, str] = {"micro-pythia": MICRO_PYTHIA_ID, **_pythia_ids(), **GPT2_IDS}

# Pythia's released checkpoints: step 0, log-spaced steps 1..512, then every 1000 to 143000.
PYTHIA_STEPS: tuple[int, ...] = (0, *(2**i for i in range(10)), *range(1000, 143001, 1000))
PYTHIA_SCHEDULE_TEXT = "0, 1, 2, 4, 8, ..., 512, then every 1000 from 1000 to 143000"

_STEP_RE = re.compile(r"^step(\d+)$")
REVISION_FORMS_TEXT = (
    "stepN or N with N a whole number >= 0 (e.g. step143000 or 143000), "
    "or a hub branch, tag or commit"
)


def is_pythia(model_id: str) -> bool:
    """Whether a resolved hub id names a Pythia model (whose revisions are training steps)."""
    return model_id.lower().startswith("eleutherai/pythia-")


@functools.cache
def _micro_pythia_steps() -> tuple[int, ...]:
    from mechcirc.models.micro_spec import load_spec

    return load_spec().steps


def known_steps(model_id: str) -> tuple[int, ...] | None:
    """The training steps a model has checkpoints at (``None``: revisions are not steps).

    >>> known_steps("EleutherAI/pythia-160m")[:4], known_steps("openai-community/gpt2")
    ((0, 1, 2, 4), None)
    """
    if is_pythia(model_id):
        return PYTHIA_STEPS
    if model_id.lower() == MICRO_PYTHIA_ID:
        return _micro_pythia_steps()
    return None


def schedule_text(model_id: str) -> str:
    """The checkpoint schedule of ``model_id`` in words, for messages."""
    if is_pythia(model_id):
        return PYTHIA_SCHEDULE_TEXT
    return ", ".join(map(str, known_steps(model_id) or ()))


def resolve_model_id(name: str) -> str:
    """Map a short name to its hub id; pass hub ids (``owner/name``) through.

    Raises:
        ModelLoadError: for a bare name that is not a known short name, listing close matches.
    """
    if name in SHORT_NAMES:
        return SHORT_NAMES[name]
    lowered = name.lower()
    if lowered in SHORT_NAMES:
        return SHORT_NAMES[lowered]
    if "/" in name:
        return name
    close = difflib.get_close_matches(lowered, list(SHORT_NAMES), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ModelLoadError(
        f"unknown model name {name!r}.{hint} Use a short name (`mechcirc models list`), "
        "a hub id such as 'EleutherAI/pythia-160m', a local folder or a .gguf file."
    )


def normalize_revision(revision: str | int | None, model_id: str) -> str | None:
    """Turn ``143000``, ``"143000"`` or ``"step143000"`` into ``"step143000"``.

    For models with known checkpoint steps (Pythia, the micro-Pythia: ``known_steps``) the
    step must be one of them; any other revision (a branch, tag or commit hash) passes through.

    Raises:
        UsageError: for a malformed step (``step-5``, ``stepabc``, ``-5``), naming the forms.
        ModelLoadError: for a step that is not a checkpoint, naming the schedule.
    """
    if revision is None:
        return None
    text = check_revision_form(revision)
    step: int | None = None
    if text.isdigit():
        step = int(text)
    elif match := _STEP_RE.match(text):
        step = int(match.group(1))
    if step is None:
        return text
    steps = known_steps(model_id)
    if steps is not None and step not in steps:
        family = "Pythia" if is_pythia(model_id) else model_id
        nearest = min(steps, key=lambda s: abs(s - step))
        raise ModelLoadError(
            f"{model_id} has no checkpoint at step {step}: {family} checkpoints are at steps "
            f"{schedule_text(model_id)} (e.g. --revision step{nearest})."
        )
    return f"step{step}"


def check_revision_form(revision: str | int) -> str:
    """The revision as stripped text, or a ``UsageError`` if it is a malformed step.

    A revision that starts with ``step`` must be ``step`` and digits, and a number must not be
    negative; anything else (``main``, a tag, a commit hash) passes, since any model's hub
    repository may have such branches. Needs no hub access.

    Example:
        >>> check_revision_form(" step1000 ")
        'step1000'
    """
    if isinstance(revision, bool) or not isinstance(revision, int | str):
        raise UsageError(f"revision must be {REVISION_FORMS_TEXT}, got {revision!r}")
    text = str(revision).strip()
    malformed_step = text.lower().startswith("step") and not _STEP_RE.match(text)
    if not text or malformed_step or re.fullmatch(r"-\d+", text):
        raise UsageError(f"invalid revision {text!r}: use {REVISION_FORMS_TEXT}")
    return text
