"""``IOIComponents``: which heads play which IOI role, their scores, effects and shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mechcirc.tasks.metrics import BaselineGap

from .config import ROLES, SHARE_ROLES, IOIComponentsConfig

__all__ = ["EFFECT_COLUMNS", "SCORE_COLUMNS", "IOIComponents"]

SCORE_COLUMNS = (
    "context_copy",
    "negative_copy",
    "attn_io",
    "attn_s1",
    "attn_s2",
    "cspa",
    "induction",
    "duplicate_token",
)
EFFECT_COLUMNS = (
    "direct_effect",
    "s_inhibition_effect",
    "value_effect",
    "position_swap_logit_diff",
    "position_swap_attn_io",
    "position_swap_attn_s1",
    "token_swap_logit_diff",
    "token_swap_attn_io",
    "token_swap_attn_s1",
)


@dataclass(frozen=True)
class IOIComponents:
    """Result of :func:`run_ioi_components` at one checkpoint.

    ``scores`` and ``effects`` are ``[n_layers, n_heads]`` grids named as
    :data:`SCORE_COLUMNS` / :data:`EFFECT_COLUMNS` (NaN where not computed); ``roles`` maps each
    role of :data:`ROLES` to its heads; effects are ``(patched - clean) / (clean - corrupted)``.
    """

    config: IOIComponentsConfig
    baselines: BaselineGap
    scores: dict[str, Tensor]
    effects: dict[str, Tensor]
    roles: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def share(self, role: str) -> float:
        """Percent of the model's IOI performance carried by ``role`` (Tigges et al. Fig. 4):
        ``-100 * sum(effect)`` over its heads, with the effect on the logits (direct roles),
        on the name movers' queries (S-inhibition) or on the S-inhibition values (induction,
        duplicate-token); positive when the heads carry the performance."""
        heads, effect = self._share_terms(role)
        if not heads:
            return 0.0
        values = torch.stack([effect[layer, head] for layer, head in heads])
        return float(-100 * values.sum())

    def _share_terms(self, role: str):
        unions = {
            "direct": ("name_mover", "negative_name_mover", "copy_suppression"),
            "induction_duplicate": ("induction", "duplicate_token"),
        }
        parts = unions.get(role, (role,))
        heads = sorted({h for part in parts for h in self.roles.get(part, [])})
        kind = {"s_inhibition": "s_inhibition_effect"}.get(role, "direct_effect")
        if role in ("induction", "duplicate_token", "induction_duplicate"):
            kind = "value_effect"
        return heads, self.effects[kind]

    def components_frame(self):
        """One row per (head, role), every head at least once (role ``none``), with every
        score and effect column: layer, head, role, scores..., effects..."""
        import pandas as pd

        n_layers, n_heads = self.effects["direct_effect"].shape
        rows = []
        for layer in range(n_layers):
            for head in range(n_heads):
                roles = [r for r in ROLES if (layer, head) in self.roles.get(r, [])] or ["none"]
                values = {k: float(v[layer, head]) for k, v in self.scores.items()}
                values.update({k: float(v[layer, head]) for k, v in self.effects.items()})
                rows += [{"layer": layer, "head": head, "role": role, **values} for role in roles]
        columns = ["layer", "head", "role", *SCORE_COLUMNS, *EFFECT_COLUMNS]
        return pd.DataFrame(rows).reindex(columns=columns)

    def consistency_frame(self):
        """One row per role of :data:`SHARE_ROLES`: ``role``, ``share`` (percent), ``n_heads``."""
        import pandas as pd

        rows = [
            {"role": role, "share": self.share(role), "n_heads": len(self._share_terms(role)[0])}
            for role in SHARE_ROLES
        ]
        return pd.DataFrame(rows)

    def metrics(self) -> dict:
        """Headline numbers: baselines, heads per role and shares, as manifests record them."""
        shares = {row.role: row.share for row in self.consistency_frame().itertuples()}
        return {
            "baseline_gap": self.baselines.to_dict(),
            "roles": {r: [f"a{lay}.h{h}" for lay, h in heads] for r, heads in self.roles.items()},
            "shares": {k: (None if math.isnan(v) else v) for k, v in shares.items()},
        }
