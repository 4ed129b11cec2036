"""Attention-head functional scores (imported as ``mechcirc.analyses.heads``).

Induction, previous-token and duplicate-token scores from attention on repeated random tokens;
copy and successor scores from OV circuits; CSPA copy-suppression scores; the IOI name-mover
test. Each returns a ``HeadScore`` (``values[layer, head]`` plus the data it used).

Example:
    >>> from mechcirc.analyses.heads import attention_scores, copy_scores
    >>> induction = attention_scores(model)["induction"].values   # doctest: +SKIP
"""

from mechcirc.analyses.heads.attention_scores import (
    PATTERN_SCORES,
    RepeatedTokens,
    attention_scores,
    repeated_tokens,
)
from mechcirc.analyses.heads.cspa import cspa_scores
from mechcirc.analyses.heads.name_movers import name_mover_scores
from mechcirc.analyses.heads.ov_scores import (
    ORDINAL_WORDS,
    copy_scores,
    ioi_name_tokens,
    ordinal_sequences,
    successor_scores,
)
from mechcirc.analyses.heads.result import HeadScore, scores_frame
from mechcirc.analyses.heads.suite import SCORE_NAMES, compute_head_scores, parse_score_names
from mechcirc.analyses.heads.weights import head_ov_logits, head_ov_output, layer0_representation

__all__ = [
    "ORDINAL_WORDS",
    "PATTERN_SCORES",
    "SCORE_NAMES",
    "HeadScore",
    "RepeatedTokens",
    "attention_scores",
    "compute_head_scores",
    "copy_scores",
    "cspa_scores",
    "head_ov_logits",
    "head_ov_output",
    "ioi_name_tokens",
    "layer0_representation",
    "name_mover_scores",
    "ordinal_sequences",
    "parse_score_names",
    "repeated_tokens",
    "scores_frame",
    "successor_scores",
]
