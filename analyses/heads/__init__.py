"""Attention-head functional scores (imported as ``mechcirc.analyses.heads``).

The pipeline :func:`head_scores` (``HeadScoresConfig`` -> ``HeadScores``) computes any of:
induction, previous-token and duplicate-token scores (attention on repeated random tokens),
copy scores (OV weights alone, and Tigges et al.'s in-context and negative copy scores on IOI
prompts), Gould et al.'s successor score, CSPA copy suppression (full, on natural text; and the
earlier OV-only variant) and the attention of the final token to IO, S1 and S2. The score
functions themselves live in :mod:`mechcirc.measures` and are re-exported here.

Example:
    >>> from mechcirc.analyses.heads import HeadScoresConfig, head_scores
    >>> result = head_scores(model, HeadScoresConfig(scores=("induction",)))  # doctest: +SKIP
    >>> result.scores["induction"].top(3)                                     # doctest: +SKIP
"""

from mechcirc.analyses.heads.pipeline import (
    DEFAULT_SCORES,
    IOI_SCORES,
    SCORE_NAMES,
    HeadScores,
    HeadScoresConfig,
    head_scores,
)
from mechcirc.analyses.heads.token_sets import (
    SUCCESSOR_BASES,
    ioi_name_tokens,
    successor_sequences,
    successor_words,
)
from mechcirc.measures.attention_scores import (
    PATTERN_SCORES,
    RepeatedTokens,
    attention_scores,
    repeated_tokens,
)
from mechcirc.measures.context_copy import context_copy_scores
from mechcirc.measures.cspa import cspa_scores
from mechcirc.measures.cspa_full import cspa_full_scores
from mechcirc.measures.name_movers import attention_to_names, name_mover_scores
from mechcirc.measures.ov_scores import copy_scores, successor_scores
from mechcirc.measures.result import HeadScore, scores_frame
from mechcirc.measures.weights import (
    effective_embedding,
    head_ov_logits,
    head_ov_output,
    layer0_representation,
)

__all__ = [
    "DEFAULT_SCORES",
    "IOI_SCORES",
    "PATTERN_SCORES",
    "SCORE_NAMES",
    "SUCCESSOR_BASES",
    "HeadScore",
    "HeadScores",
    "HeadScoresConfig",
    "RepeatedTokens",
    "attention_scores",
    "attention_to_names",
    "context_copy_scores",
    "copy_scores",
    "cspa_full_scores",
    "cspa_scores",
    "effective_embedding",
    "head_ov_logits",
    "head_ov_output",
    "head_scores",
    "ioi_name_tokens",
    "layer0_representation",
    "name_mover_scores",
    "repeated_tokens",
    "scores_frame",
    "successor_scores",
    "successor_sequences",
    "successor_words",
]
