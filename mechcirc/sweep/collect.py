"""``collect``: the sweep's tidy tables, ``attention.json`` and figures, rebuilt from the units.

Tables are always derived: only units whose manifest says ``done`` contribute, rows come from
each registered analysis's ``rows`` (read from the unit folder), and the same units always give
the same tables (row order: plan order of units, then each analysis's order). Columns follow the
sweep-folder contract (SWEEP_CONTRACT.md); analyses may add columns after them.

Example:
    >>> tables = collect("sweeps/ioi")               # doctest: +SKIP
    >>> tables["behaviour"].columns[:5].tolist()     # doctest: +SKIP
    ['model', 'revision', 'step', 'tokens', 'task']
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from mechcirc.runs import atomic_write_text
from mechcirc.sweep.evolution import evolution_table
from mechcirc.sweep.figures import write_figures
from mechcirc.sweep.folder import SweepFolder, unit_status
from mechcirc.sweep.plan import SweepPlan, task_label
from mechcirc.sweep.registry import UnitRecord, get_analysis

__all__ = ["TABLE_COLUMNS", "collect", "read_tables"]

_KEYS = {"model": "string", "revision": "string", "step": "int64", "tokens": "int64"}
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "behaviour": {
        **_KEYS, "task": "string", "metric": "string",
        "clean": "float64", "corrupted": "float64", "accuracy": "float64",
    },
    "circuits": {
        **_KEYS, "task": "string", "method": "string", "criterion": "string",
        "n_edges": "int64", "n_nodes": "int64", "faithfulness_normalized": "float64",
        "fraction_of_clean": "float64", "target_reached": "bool", "baseline_reliable": "bool",
        "n_edges_total": "int64",
    },
    "edges": {
        "model": "string", "revision": "string", "step": "int64", "task": "string",
        "edge": "string", "score": "float32", "in_circuit": "bool",
    },
    "heads": {
        **_KEYS, "layer": "int64", "head": "int64", "score": "string", "value": "float64",
    },
    "components": {**_KEYS, "layer": "int64", "head": "int64", "role": "string"},
    "ioi_consistency": {**_KEYS, "role": "string", "share": "float64", "n_heads": "int64"},
}  # fmt: skip


def _frame(name: str, rows: list[dict]) -> pd.DataFrame:
    schema = TABLE_COLUMNS.get(name, {})
    frame = pd.DataFrame(rows)
    for column in schema:
        if column not in frame:
            frame[column] = pd.Series(dtype=object)
    extra = [c for c in frame.columns if c not in schema]
    frame = frame[[*schema, *extra]]
    return frame.astype({c: t for c, t in schema.items()})


def table_rows(folder: SweepFolder, plan: SweepPlan) -> dict[str, list[dict]]:
    """Every done unit's rows, table by table, in plan order."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for unit in plan.units():
        path = folder.unit_path(unit)
        if unit_status(path)[0] != "done":
            continue
        record = UnitRecord(plan, unit, path)
        for name in plan.analyses:
            for table, found in get_analysis(name).rows(record).items():
                rows[table] += found
    return rows


def _attention(folder: SweepFolder, plan: SweepPlan) -> list[dict]:
    entries = []
    for unit in plan.units():
        if unit.revision != plan.final_revision(unit.model):
            continue
        for task in plan.tasks:
            path = folder.unit_path(unit) / "eap" / task_label(task) / "attention.json"
            if unit_status(folder.unit_path(unit))[0] == "done" and path.is_file():
                entries.append(json.loads(path.read_text()))
    return entries


def _write_table(path: Path, frame: pd.DataFrame) -> None:
    partial = path.with_name(f".{path.name}.partial")
    frame.to_parquet(partial, index=False)
    os.replace(partial, path)


def collect(
    sweep_dir: str | Path, *, figures: bool = True, report: bool = True
) -> dict[str, pd.DataFrame]:
    """Rebuild ``<table>.parquet``, ``evolution.parquet``, ``attention.json``, ``figures/`` and
    ``report.html`` of the sweep at ``sweep_dir`` from its done units; the tables."""
    folder = SweepFolder(Path(sweep_dir))
    plan = folder.plan()
    rows = table_rows(folder, plan)
    names = [table for name in plan.analyses for table in get_analysis(name).tables]
    tables = {name: _frame(name, rows.get(name, [])) for name in dict.fromkeys(names)}
    if "circuits" in tables and "edges" in tables:
        tables["evolution"] = evolution_table(tables["circuits"], tables["edges"])
    for name, frame in tables.items():
        _write_table(folder.path / f"{name}.parquet", frame)
    if "eap" in plan.analyses:
        attention = json.dumps(_attention(folder, plan))
        atomic_write_text(folder.path / "attention.json", attention + "\n")
    if figures:
        write_figures(tables, folder.path / "figures")
    folder.write_state(plan)
    if report:
        from mechcirc.report import write_sweep_report

        write_sweep_report(folder.path)
    return tables


def read_tables(sweep_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The tables a collected sweep folder holds, by name."""
    return {path.stem: pd.read_parquet(path) for path in sorted(Path(sweep_dir).glob("*.parquet"))}
