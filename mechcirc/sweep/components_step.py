"""The ``ioi-components`` sweep analysis: Tigges et al.'s IOI algorithm consistency over training.

Each unit runs :func:`mechcirc.analyses.components.run_ioi_components` on the sweep's IOI pairs
into the sub-run ``components/``; with the ``eap`` analysis in the same plan, the unit's IOI
circuit (``eap/ioi/graph.json``) supplies the in-circuit edges the role rules ask for. Rows go
to ``components.parquet`` (one per head and role: scores and effects) and
``ioi_consistency.parquet`` (one per role: the share of the IOI effect it carries).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mechcirc.analyses.components import IOIComponentsConfig, run_ioi_components
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.sweep.plan import SweepPlan
from mechcirc.sweep.registry import SweepAnalysis, UnitContext, UnitRecord

__all__ = ["ComponentsAnalysis", "components_config"]

FOLDER = "components"
CIRCUIT = "eap/ioi/graph.json"


def components_config(plan: SweepPlan) -> IOIComponentsConfig:
    """The :class:`IOIComponentsConfig` every unit of ``plan`` runs."""
    return IOIComponentsConfig(n_prompts=plan.n, seed=plan.seed, batch_size=plan.batch_size)


class ComponentsAnalysis(SweepAnalysis):
    """IOI roles and their shares over training (``components``, ``ioi_consistency``)."""

    name = "ioi-components"
    tables = ("components", "ioi_consistency")

    def check(self, plan: SweepPlan) -> None:
        if "ioi" not in plan.tasks:
            raise UsageError("the ioi-components analysis needs the ioi task in --tasks")
        components_config(plan)

    def run(self, ctx: UnitContext) -> None:
        config = components_config(ctx.plan)
        circuit = ctx.run.path / CIRCUIT
        edges = None
        if circuit.is_file():  # the eap analysis ran first in this unit
            graph = CircuitGraph.load_json(circuit)
            edges = [name for name, _ in graph.in_graph_edges()]
        with ctx.sub_run(FOLDER, command="components ioi", config=config.to_dict()) as run:
            run_ioi_components(ctx.model, ctx.pairs["ioi"], config, run, circuit_edges=edges)

    def rows(self, record: UnitRecord) -> dict[str, list[dict[str, Any]]]:
        keys = record.keys()
        tables = {}
        for table in self.tables:
            frame = pd.read_parquet(record.path / FOLDER / f"{table}.parquet")
            tables[table] = [{**keys, **row} for row in frame.to_dict("records")]
        return tables
