"""Tigges et al.'s (2024) component analyses (imported as ``mechcirc.analyses.components``).

IOI algorithm consistency (:func:`run_ioi_components` -> :class:`IOIComponents`, Fig. 4),
component emergence and load balancing over checkpoints, per-head self-repair, and the figure
in the paper's layout.

Example:
    >>> from mechcirc.analyses.components import IOIComponentsConfig, run_ioi_components
    >>> result = run_ioi_components(model, pairs, IOIComponentsConfig())  # doctest: +SKIP
    >>> result.consistency_frame()                                         # doctest: +SKIP
"""

from mechcirc.analyses.components.component_swap import component_swap_table, swap_head_outputs
from mechcirc.analyses.components.config import ROLES, SHARE_ROLES, IOIComponentsConfig
from mechcirc.analyses.components.emergence import (
    component_emergence,
    emergence_curve,
    load_balancing,
    scores_long,
)
from mechcirc.analyses.components.figures import plot_ioi_consistency
from mechcirc.analyses.components.pipeline import run_ioi_components
from mechcirc.analyses.components.result import EFFECT_COLUMNS, SCORE_COLUMNS, IOIComponents
from mechcirc.analyses.components.self_repair import SelfRepair, self_repair
from mechcirc.analyses.components.swaps import position_swap, token_swap

__all__ = [
    "EFFECT_COLUMNS",
    "ROLES",
    "SCORE_COLUMNS",
    "SHARE_ROLES",
    "IOIComponents",
    "IOIComponentsConfig",
    "SelfRepair",
    "component_emergence",
    "component_swap_table",
    "emergence_curve",
    "load_balancing",
    "plot_ioi_consistency",
    "position_swap",
    "run_ioi_components",
    "scores_long",
    "self_repair",
    "swap_head_outputs",
    "token_swap",
]
