"""Circuits over training and scale: run analyses over checkpoints and model sizes.

A sweep is a plan (models x revisions x tasks x analyses), a folder of units (one per model and
revision, each a run folder marked done last), and tidy tables and figures collected from them.

Example:
    >>> from mechcirc.sweep import SweepOptions, build_plan, run_sweep
    >>> plan = build_plan(models=["pythia-70m", "pythia-160m"], revisions="sparse",
    ...                   tasks=["ioi", "greater-than"])
    >>> run_sweep(plan, "sweeps/ioi-gt", SweepOptions(executor="ray"))  # doctest: +SKIP
"""

from mechcirc.sweep.collect import TABLE_COLUMNS, collect, read_tables
from mechcirc.sweep.driver import SweepResult, run_sweep
from mechcirc.sweep.evolution import evolution_table, weighted_jaccard
from mechcirc.sweep.folder import SweepFolder
from mechcirc.sweep.plan import SweepOptions, SweepPlan, Unit, build_plan
from mechcirc.sweep.registry import (
    SweepAnalysis,
    UnitContext,
    UnitRecord,
    analysis_names,
    register_analysis,
)
from mechcirc.sweep.unit import run_unit

__all__ = [
    "TABLE_COLUMNS",
    "SweepAnalysis",
    "SweepFolder",
    "SweepOptions",
    "SweepPlan",
    "SweepResult",
    "Unit",
    "UnitContext",
    "UnitRecord",
    "analysis_names",
    "build_plan",
    "collect",
    "evolution_table",
    "read_tables",
    "register_analysis",
    "run_sweep",
    "run_unit",
    "weighted_jaccard",
]
