"""``run_sweep``: validate, prepare the folder and the pairs, run the units, collect the tables.

Rerunning the same plan into the same folder skips done units, redoes partial ones (killed or
interrupted), and with ``retry_failed`` the failed ones. A unit that fails does not stop the
sweep; the result counts the failures (the CLI exits 1 naming how many).

Example:
    >>> plan = build_plan(models=["pythia-70m"], revisions="sparse", tasks=["ioi"])
    >>> result = run_sweep(plan, "sweeps/ioi")                   # doctest: +SKIP
    >>> result.status                                            # doctest: +SKIP
    {'done': 28, 'failed': 0, 'pending': 0, 'running': 0}
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mechcirc.runs import RunFolder
from mechcirc.sweep.engines import run_units
from mechcirc.sweep.folder import SweepFolder, open_sweep, unit_status
from mechcirc.sweep.pairs import sweep_tokenizer, write_pairs
from mechcirc.sweep.plan import SweepOptions, SweepPlan, Unit
from mechcirc.sweep.unit import UNIT_COMMAND

__all__ = ["SweepResult", "run_sweep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    """What a sweep invocation did: unit counts by status, units run here, the failures."""

    path: Path
    status: dict[str, int]
    ran: int
    failed: list[dict[str, Any]] = field(default_factory=list)


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    options: SweepOptions | None = None,
    *,
    overwrite: bool = False,
    collect_tables: bool = True,
    report: bool = True,
    progress: bool = True,
) -> SweepResult:
    """Run (or resume) ``plan`` into the sweep folder ``out``; then rebuild its tables and
    figures (``collect_tables``) and its ``report.html`` (``report``)."""
    options = options or SweepOptions()
    folder = open_sweep(out, plan, overwrite=overwrite)
    with folder.lock():
        tokenizer, fingerprint = sweep_tokenizer(plan)
        write_pairs(folder.path, plan, tokenizer)
        state = folder.write_state(plan, options, tokenizer={"fingerprint": fingerprint})
        todo = [
            unit
            for unit, entry in zip(plan.units(), state["units"], strict=True)
            if _needs_run(entry, options)
        ]
        log.info("%d of %d units to run", len(todo), len(state["units"]))
        ran = _run(folder, plan, todo, options, state["units"], progress)
        state = folder.write_state(plan)
        if collect_tables:
            from mechcirc.sweep.collect import collect

            collect(folder.path, report=report)
    failed = [unit for unit in state["units"] if unit["status"] == "failed"]
    return SweepResult(folder.path, state["status"], ran, failed)


def _needs_run(entry: dict[str, Any], options: SweepOptions) -> bool:
    return entry["status"] != "done" and (entry["status"] != "failed" or options.retry_failed)


def _run(
    folder: SweepFolder,
    plan: SweepPlan,
    units: list[Unit],
    options: SweepOptions,
    entries: list[dict[str, Any]],
    progress: bool,
) -> int:
    """Run ``units``; ``sweep.json`` is rewritten after each from the in-memory ``entries``."""
    counts: Counter[str] = Counter()
    by_key = {(entry["model"], entry["revision"]): entry for entry in entries}
    bar = tqdm(total=len(units), desc="sweep units", unit="unit", disable=not (progress and units))

    def on_result(unit: Unit, outcome: dict[str, Any] | BaseException) -> None:
        if isinstance(outcome, BaseException):
            outcome = _mark_lost(folder, plan, unit, outcome)
        counts[outcome["status"]] += int(outcome["ran"])
        entry = by_key[(unit.model, unit.revision)]
        entry.pop("error", None)
        entry["status"] = outcome["status"]
        if outcome["error"]:
            entry["error"] = outcome["error"]
        bar.update()
        bar.set_postfix(done=counts["done"], failed=counts["failed"])
        folder.write_state(plan, units=entries)

    try:
        run_units(folder.path, units, options, on_result)
    finally:
        bar.close()
    return sum(counts.values())


def _mark_lost(
    folder: SweepFolder, plan: SweepPlan, unit: Unit, error: BaseException
) -> dict[str, Any]:
    """Record a unit the engine lost (its worker died) as failed, unless it finished; its
    outcome."""
    path = folder.unit_path(unit)
    status, found = unit_status(path)
    if status == "done":
        return {"status": "done", "ran": True, "error": None}
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    found = {"type": type(error).__name__, "message": f"the engine lost the unit: {message}"}
    if (path / "manifest.json").is_file():
        run = RunFolder.open(path)
    else:
        run = RunFolder.create(path, command=UNIT_COMMAND, config=plan.to_dict(), argv=[])
    run.update(status="failed", error=found)
    return {"status": "failed", "ran": True, "error": found}
