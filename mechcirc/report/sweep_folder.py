"""A sweep folder as the report reads it: ``sweep.json``, the five Parquet tables (and those of
optional analyses: ``components`` and ``ioi_consistency`` of ``ioi-components``) and
``attention.json`` (the contract between ``mechcirc sweep`` and ``mechcirc report``; the unit
folders are the sweep's internals and are never read here).

Every table is checked for the columns the contract names (extra columns are fine). A table
that is absent (its analysis was not run) reads as empty, and the page says so; an absent
optional table reads as empty and its section is left out.

Example:
    >>> sweep = read_sweep("sweeps/ioi-gt")  # doctest: +SKIP
    >>> sweep.models, sweep.tasks  # doctest: +SKIP
    (['pythia-70m', 'pythia-160m'], ['ioi', 'greater-than'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mechcirc.errors import UsageError

__all__ = [
    "OPTIONAL_COLUMNS",
    "SWEEP_FILE",
    "TABLE_COLUMNS",
    "Sweep",
    "is_sweep_folder",
    "read_sweep",
]

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = "mechcirc-sweep"
TABLE_COLUMNS = {
    "behaviour": [
        "model", "revision", "step", "tokens", "task", "metric", "clean", "corrupted", "accuracy",
    ],
    "circuits": [
        "model", "revision", "step", "tokens", "task", "method", "criterion", "n_edges",
        "n_nodes", "faithfulness_normalized", "fraction_of_clean", "target_reached",
        "baseline_reliable", "n_edges_total",
    ],
    "edges": ["model", "revision", "step", "task", "edge", "score", "in_circuit"],
    "heads": ["model", "revision", "step", "tokens", "layer", "head", "score", "value"],
    "evolution": [
        "model", "task", "step", "tokens",
        *(
            f"{name}_{against}"
            for against in ("prev", "final")
            for name in (
                "jaccard_edges", "jaccard_nodes", "weighted_jaccard", "change_rate_ewma",
                "edit_distance",
            )
        ),
    ],
}  # fmt: skip
# Tables of analyses a sweep may leave out (``ioi-components``): never listed as missing.
OPTIONAL_COLUMNS = {
    "components": [
        "model", "revision", "step", "tokens", "layer", "head", "role", "direct_effect",
    ],
    "ioi_consistency": ["model", "revision", "step", "tokens", "role", "share", "n_heads"],
}  # fmt: skip


@dataclass(frozen=True)
class Sweep:
    """The contents of a sweep folder the report needs."""

    path: Path
    meta: dict  # sweep.json
    tables: dict[str, pd.DataFrame]  # name -> table (empty when the file is absent)
    missing: tuple[str, ...]  # tables whose file is absent
    attention: list[dict]

    @property
    def plan(self) -> dict:
        return self.meta.get("plan") or {}

    def _names(self, column: str, tables: tuple[str, ...], planned: list[str]) -> list[str]:
        """Planned names that have rows in ``tables``, then any other name found there."""
        found = set()
        for name in tables:
            found |= set(self.tables[name][column].astype(str))
        kept = [n for n in planned if n in found]
        return kept + sorted(found - set(kept))

    @property
    def models(self) -> list[str]:
        tables = ("behaviour", "circuits", "edges", "heads")
        return self._names("model", tables, self.plan.get("models", []))

    @property
    def tasks(self) -> list[str]:
        tables = ("behaviour", "circuits", "edges", "evolution")
        return self._names("task", tables, self.plan.get("tasks", []))


def is_sweep_folder(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def _read_sweep_json(path: Path) -> dict:
    file = path / SWEEP_FILE
    if not file.is_file():
        raise UsageError(f"{path} is not a sweep folder: it holds no {SWEEP_FILE}")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UsageError(f"{file} is not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != SWEEP_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise UsageError(f"{file}: expected format {SWEEP_FORMAT!r}, found {found!r}")
    return meta


def _read_table(path: Path, name: str, columns: list[str]) -> pd.DataFrame | None:
    file = path / f"{name}.parquet"
    if not file.is_file():
        return None
    frame = pd.read_parquet(file)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(f"{file} lacks the columns {missing}; the sweep contract names {columns}")
    return frame


def _read_attention(path: Path) -> list[dict]:
    file = path / "attention.json"
    if not file.is_file():
        return []
    entries = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UsageError(f"{file} must hold a list of objects (model, revision, task, heads...)")
    return entries


def read_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep folder (``UsageError`` naming the file and what is wrong)."""
    path = Path(path)
    meta = _read_sweep_json(path)
    tables, missing = {}, []
    for name, columns in {**TABLE_COLUMNS, **OPTIONAL_COLUMNS}.items():
        frame = _read_table(path, name, columns)
        if frame is None:
            if name in TABLE_COLUMNS:
                missing.append(name)
            frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        tables[name] = frame
    return Sweep(path, meta, tables, tuple(missing), _read_attention(path))
