"""Measurements of attention heads and paths that several analyses share (core layer).

Head scores (attention on repeated tokens, OV-circuit copy and successor scores, in-context copy
scores, attention to the IOI names, CSPA copy suppression), each a :class:`HeadScore`; the
path-patching engine :class:`PathPatcher`; natural-text token sequences. The analyses
(``mechcirc.analyses.heads``, ``.path_patching``, ``.components``) build their pipelines on
these, so they never import each other.

Example:
    >>> from mechcirc.measures import context_copy_scores
    >>> score = context_copy_scores(model, pairs.clean, pairs.positions)   # doctest: +SKIP
"""

from importlib import import_module

_LAZY = {
    "HeadScore": "mechcirc.measures.result",
    "scores_frame": "mechcirc.measures.result",
    "PATTERN_SCORES": "mechcirc.measures.attention_scores",
    "RepeatedTokens": "mechcirc.measures.attention_scores",
    "repeated_tokens": "mechcirc.measures.attention_scores",
    "copy_scores": "mechcirc.measures.ov_scores",
    "successor_scores": "mechcirc.measures.ov_scores",
    "context_copy_scores": "mechcirc.measures.context_copy",
    "attention_to_names": "mechcirc.measures.name_movers",
    "mean_attention": "mechcirc.measures.name_movers",
    "name_mover_scores": "mechcirc.measures.name_movers",
    "cspa_scores": "mechcirc.measures.cspa",
    "cspa_full_scores": "mechcirc.measures.cspa_full",
    "corpus_tokens": "mechcirc.measures.corpus",
    "PathPatcher": "mechcirc.measures.paths",
    "receiver_groups": "mechcirc.measures.paths",
    "parse_head": "mechcirc.measures.paths",
    "head_ov_output": "mechcirc.measures.weights",
    "layer0_representation": "mechcirc.measures.weights",
    "effective_embedding": "mechcirc.measures.weights",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mechcirc.measures' has no attribute {name!r}")
