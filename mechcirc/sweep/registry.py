"""Sweep analyses by name: what a unit runs on its loaded model, and the table rows it yields.

A sweep analysis is one object with

- ``name`` (what ``--analyses`` lists) and ``tables`` (the sweep tables its rows go to);
- ``check(plan)``: refuse a plan it cannot run (``UsageError``), before any unit starts;
- ``run(ctx)``: run on ``ctx.model`` into the unit's folder (open sub-run folders with
  ``ctx.sub_run(name, ...)``; each one is a complete run folder with its own manifest);
- ``rows(record)``: ``{table: [row dict, ...]}`` read back from the unit's folder (never from the
  model), so ``mechcirc sweep collect`` rebuilds every table from the units alone.

Adding one is ``register_analysis(MyAnalysis())`` in a module that the sweep imports (the
built-ins live in :mod:`mechcirc.sweep.builtin`).

Example:
    >>> class Norms(SweepAnalysis):
    ...     name, tables = "norms", ("norms",)
    ...     def run(self, ctx):
    ...         with ctx.sub_run("norms", command="norms", config={}) as run:
    ...             run.save_json("norms.json", {"w_e": float(ctx.model.W_E.detach().norm())})
    ...     def rows(self, record):
    ...         value = record.read_json("norms/norms.json")["w_e"]
    ...         return {"norms": [{**record.keys(), "w_e": value}]}
    >>> register_analysis(Norms())  # doctest: +SKIP
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mechcirc.errors import UsageError
from mechcirc.models.protocol import HookedModel
from mechcirc.models.spec import ModelSpec
from mechcirc.runs import RunFolder
from mechcirc.sweep.plan import SweepPlan, Unit
from mechcirc.tasks import PromptPairs

__all__ = [
    "SweepAnalysis",
    "UnitContext",
    "UnitRecord",
    "analysis_names",
    "check_analyses",
    "get_analysis",
    "register_analysis",
]

_REGISTRY: dict[str, SweepAnalysis] = {}


@dataclass
class UnitContext:
    """What an analysis gets in a unit: the loaded model, the plan, the pairs, the folder."""

    model: HookedModel
    plan: SweepPlan
    unit: Unit
    model_spec: ModelSpec
    run: RunFolder  # the unit's own run folder
    pairs: dict[str, PromptPairs]  # task -> the sweep's stored pairs

    @property
    def is_final(self) -> bool:
        """Whether this unit is its model's final checkpoint in the plan."""
        return self.unit.revision == self.plan.final_revision(self.unit.model)

    @contextmanager
    def sub_run(
        self, name: str, *, command: str, config: dict[str, Any], inputs: dict | None = None
    ) -> Iterator[RunFolder]:
        """A run folder at ``<unit>/<name>`` (listed in the unit's manifest), marked ``done``
        when the block ends (``failed`` if it raises)."""
        with RunFolder.create(
            self.run.path / name,
            command=command,
            config=config,
            inputs=inputs,
            seed=self.plan.seed,
            argv=[],
        ) as run:
            yield run
        self.run.file(f"{name}/manifest.json")


@dataclass(frozen=True)
class UnitRecord:
    """A done unit's folder, as ``rows`` reads it."""

    plan: SweepPlan
    unit: Unit
    path: Path

    def keys(self) -> dict[str, Any]:
        """``model``, ``revision``, ``step`` and ``tokens``: the leading columns of every row."""
        step = -1 if self.unit.step is None else self.unit.step
        return {
            "model": self.unit.model,
            "revision": self.unit.revision,
            "step": step,
            "tokens": self.plan.tokens(self.unit.model, self.unit.step),
        }

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())


class SweepAnalysis(ABC):
    """One analysis a sweep can run in every unit (see the module docstring)."""

    name: str = ""
    tables: tuple[str, ...] = ()

    def check(self, plan: SweepPlan) -> None:  # noqa: B027 - optional hook, default accepts
        """Raise ``UsageError`` if this analysis cannot run ``plan``."""

    @abstractmethod
    def run(self, ctx: UnitContext) -> None:
        """Run on ``ctx.model``, writing every output under ``ctx.run``."""

    @abstractmethod
    def rows(self, record: UnitRecord) -> dict[str, list[dict[str, Any]]]:
        """The unit's rows for each of ``tables``, read from its folder."""


def register_analysis(analysis: SweepAnalysis) -> SweepAnalysis:
    """Make ``analysis`` available to ``--analyses`` under ``analysis.name``."""
    if not analysis.name or not analysis.tables:
        raise ValueError("a sweep analysis needs a name and the tables it writes rows to")
    known = _REGISTRY.get(analysis.name)
    if known is not None and type(known) is not type(analysis):
        raise ValueError(f"a sweep analysis named {analysis.name!r} is already registered")
    _REGISTRY[analysis.name] = analysis
    return analysis


def _load_builtins() -> None:
    import mechcirc.sweep.builtin  # noqa: F401 - registers behaviour, eap and heads


def analysis_names() -> list[str]:
    _load_builtins()
    return list(_REGISTRY)


def get_analysis(name: str) -> SweepAnalysis:
    _load_builtins()
    if name not in _REGISTRY:
        raise UsageError(
            f"unknown sweep analysis {name!r}: expected a comma-separated list of "
            f"{', '.join(_REGISTRY)}"
        )
    return _REGISTRY[name]


def check_analyses(plan: SweepPlan) -> None:
    """Every analysis of ``plan`` is registered and accepts the plan."""
    for name in plan.analyses:
        get_analysis(name).check(plan)
