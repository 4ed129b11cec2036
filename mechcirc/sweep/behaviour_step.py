"""The ``behaviour`` sweep analysis: clean and corrupted metric and accuracy per task.

Each task runs :func:`mechcirc.analyses.behaviour.measure_behaviour` into the sub-run
``behaviour/<task>/`` of the unit; its rows go to ``behaviour.parquet``.
"""

from __future__ import annotations

from typing import Any

from mechcirc.analyses.behaviour import BehaviourConfig, measure_behaviour
from mechcirc.sweep.plan import task_label
from mechcirc.sweep.registry import SweepAnalysis, UnitContext, UnitRecord
from mechcirc.tasks.spec import TaskSpec

__all__ = ["BehaviourAnalysis"]


class BehaviourAnalysis(SweepAnalysis):
    """Task behaviour at every checkpoint (``behaviour.parquet``)."""

    name = "behaviour"
    tables = ("behaviour",)

    def run(self, ctx: UnitContext) -> None:
        config = BehaviourConfig(batch_size=ctx.plan.batch_size)
        for task in ctx.plan.tasks:
            inputs = {
                "model": ctx.model_spec.to_dict(),
                "task": TaskSpec(task, n=ctx.plan.n, seed=ctx.plan.seed).to_dict(),
            }
            with ctx.sub_run(
                f"behaviour/{task_label(task)}",
                command="behaviour",
                config=config.to_dict(),
                inputs=inputs,
            ) as run:
                measure_behaviour(ctx.model, ctx.pairs[task], config, run)

    def rows(self, record: UnitRecord) -> dict[str, list[dict[str, Any]]]:
        rows = []
        for task in record.plan.tasks:
            found = record.read_json(f"behaviour/{task_label(task)}/behaviour.json")
            rows.append(
                {
                    **record.keys(),
                    "task": task_label(task),
                    "metric": found["metric"],
                    "clean": found["clean"],
                    "corrupted": found["corrupted"],
                    "accuracy": found["accuracy"],
                }
            )
        return {"behaviour": rows}
