"""The ``heads`` sweep analysis: head functional scores at every checkpoint.

:func:`head_score_table` is the one adapter onto :mod:`mechcirc.analyses.heads`; the sub-run
``heads/`` holds its wide table (``head_scores.parquet``: layer, head, one column per score) and
the rows go to ``heads.parquet`` in long form (one row per head and score).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mechcirc.analyses.heads import IOI_SCORES, HeadScoresConfig, head_scores
from mechcirc.errors import UsageError
from mechcirc.models.protocol import HookedModel
from mechcirc.sweep.plan import SweepPlan
from mechcirc.sweep.registry import SweepAnalysis, UnitContext, UnitRecord
from mechcirc.tasks import PromptPairs

__all__ = ["HeadsAnalysis", "head_score_table"]

TABLE_FILE = "heads/head_scores.parquet"


def head_score_table(
    model: HookedModel, plan: SweepPlan, ioi_pairs: PromptPairs | None
) -> pd.DataFrame:
    """The plan's head scores of ``model`` as one row per head (``layer``, ``head``, a column
    per score), on repeated random tokens drawn with the plan's seed."""
    config = HeadScoresConfig(
        scores=tuple(plan.head_scores), seed=plan.seed, batch_size=plan.batch_size
    )
    return head_scores(model, config, pairs=ioi_pairs).frame()


class HeadsAnalysis(SweepAnalysis):
    """Head scores over training (``heads.parquet``)."""

    name = "heads"
    tables = ("heads",)

    def check(self, plan: SweepPlan) -> None:
        names = HeadScoresConfig.parse_scores(",".join(plan.head_scores))
        needs_ioi = [name for name in names if name in IOI_SCORES]
        if needs_ioi and "ioi" not in plan.tasks:
            raise UsageError(
                f"the {', '.join(needs_ioi)} head score(s) need the ioi task in --tasks"
            )

    def run(self, ctx: UnitContext) -> None:
        config = {"scores": list(ctx.plan.head_scores), "seed": ctx.plan.seed}
        with ctx.sub_run("heads", command="heads", config=config) as run:
            table = head_score_table(ctx.model, ctx.plan, ctx.pairs.get("ioi"))
            run.save_table("head_scores.parquet", table)

    def rows(self, record: UnitRecord) -> dict[str, list[dict[str, Any]]]:
        wide = pd.read_parquet(record.path / TABLE_FILE)
        long = wide.melt(id_vars=["layer", "head"], var_name="score", value_name="value")
        keys = record.keys()
        return {
            "heads": [
                {
                    **keys,
                    "layer": int(r.layer),
                    "head": int(r.head),
                    "score": r.score,
                    "value": float(r.value),
                }
                for r in long.itertuples(index=False)
            ]
        }
