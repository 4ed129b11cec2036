"""Compute several head scores by name, as the ``mechcirc heads`` command does.

Example:
    >>> scores = compute_head_scores(model, ["induction", "copy"])  # doctest: +SKIP
    >>> scores_frame(scores).head()
"""

from __future__ import annotations

from collections.abc import Sequence

from mechcirc.analyses.heads.attention_scores import (
    PATTERN_SCORES,
    RepeatedTokens,
    attention_scores,
)
from mechcirc.analyses.heads.cspa import cspa_scores
from mechcirc.analyses.heads.name_movers import name_mover_scores
from mechcirc.analyses.heads.ov_scores import copy_scores, successor_scores
from mechcirc.analyses.heads.result import HeadScore
from mechcirc.errors import UsageError
from mechcirc.tasks.pairs import PromptPairs

SCORE_NAMES = (*PATTERN_SCORES, "copy", "successor", "cspa", "name_mover")


def parse_score_names(text: str) -> list[str]:
    """``"induction,copy"`` -> validated names; ``"all"`` -> every score."""
    names = [name.strip().replace("-", "_") for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return list(SCORE_NAMES)
    unknown = [name for name in names if name not in SCORE_NAMES]
    if unknown or not names:
        raise UsageError(
            f"unknown head score(s) {unknown or text!r}: expected a comma-separated list of "
            f"{', '.join(SCORE_NAMES)} (or all)"
        )
    return list(dict.fromkeys(names))


def compute_head_scores(
    model,
    names: Sequence[str],
    *,
    data: RepeatedTokens | None = None,
    pairs: PromptPairs | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> list[HeadScore]:
    """The named scores, in the order given; ``name_mover`` needs IOI ``pairs``."""
    data = data or RepeatedTokens()
    found: dict[str, HeadScore] = {}
    if set(names) & set(PATTERN_SCORES):
        found.update(attention_scores(model, data, batch_size=batch_size, progress=progress))
    if "copy" in names:
        found["copy"] = copy_scores(model)
    if "successor" in names:
        found["successor"] = successor_scores(model)
    if "cspa" in names:
        found["cspa"] = cspa_scores(model, data=data, batch_size=batch_size, progress=progress)
    if "name_mover" in names:
        if pairs is None:
            raise UsageError("the name_mover score needs IOI prompt pairs (pairs=...)")
        movers = name_mover_scores(model, pairs, batch_size=batch_size)
        found.update({score.name: score for score in movers.values()})
    # The name-mover test's parts (nm_*) follow the requested scores.
    return [found[name] for name in names] + [
        score for key, score in found.items() if key.startswith("nm_")
    ]
