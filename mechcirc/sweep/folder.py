"""The sweep folder: ``sweep.json`` (plan, versions, unit states), the units, and its lock.

The folder is the only coordination between the driver and the workers (in-process, worker
processes, Ray tasks or Slurm jobs): a unit is done exactly when its manifest says so, and
``sweep.json``'s status is always derived from the unit manifests. One driver at a time holds
``.sweep.lock``; a lock left by a killed driver is taken over.

Example:
    >>> folder = open_sweep("sweeps/ioi", plan)             # doctest: +SKIP
    >>> folder.unit_states(plan)[0]["status"]                 # doctest: +SKIP
    'pending'
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mechcirc.errors import UsageError
from mechcirc.runs import (
    _clear,
    _process_alive,
    _this_process,
    atomic_write_text,
    library_versions,
    prepare_out_dir,
    run_status,
)
from mechcirc.sweep.plan import SweepOptions, SweepPlan, Unit

__all__ = ["FORMAT", "SWEEP_FILE", "SweepFolder", "open_sweep", "unit_status"]

FORMAT, FORMAT_VERSION = "mechcirc-sweep", 1
SWEEP_FILE, LOCK_FILE = "sweep.json", ".sweep.lock"
STATUSES = ("done", "failed", "pending", "running")


def unit_status(path: Path) -> tuple[str, dict[str, str] | None]:
    """``done`` / ``failed`` (with its error) / ``running`` / ``pending`` for a unit folder.

    A unit killed mid-way (dead ``running``), interrupted, or never started is ``pending``.
    """
    state = run_status(path)
    if state.status == "done":
        return "done", None
    if state.status == "failed":
        error = json.loads((path / "manifest.json").read_text()).get("error") or {}
        return "failed", {"type": error.get("type", "?"), "message": error.get("message", "?")}
    if state.status == "running" and not state.dead:
        return "running", None
    return "pending", None


@dataclass(frozen=True)
class SweepFolder:
    path: Path

    @property
    def sweep_file(self) -> Path:
        return self.path / SWEEP_FILE

    def read(self) -> dict[str, Any]:
        if not self.sweep_file.is_file():
            raise UsageError(f"{self.path} is not a sweep folder: it holds no {SWEEP_FILE}")
        return json.loads(self.sweep_file.read_text())

    def plan(self) -> SweepPlan:
        return SweepPlan.from_dict(self.read()["plan"])

    def options(self) -> SweepOptions:
        return SweepOptions.from_dict(self.read().get("execution") or {})

    def unit_path(self, unit: Unit) -> Path:
        return self.path / unit.folder

    def unit_states(self, plan: SweepPlan) -> list[dict[str, Any]]:
        """One entry per unit, in plan order: model, revision, step, status[, error]."""
        states = []
        for unit in plan.units():
            status, error = unit_status(self.unit_path(unit))
            entry = {"model": unit.model, "revision": unit.revision, "step": unit.step}
            states.append({**entry, "status": status, **({"error": error} if error else {})})
        return states

    def write_state(
        self,
        plan: SweepPlan,
        options: SweepOptions | None = None,
        units: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Rewrite ``sweep.json`` (atomically) from the plan and the unit states (read from the
        unit manifests unless ``units`` gives them)."""
        previous = self.read() if self.sweep_file.is_file() else {}
        units = self.unit_states(plan) if units is None else units
        counts = Counter(unit["status"] for unit in units)
        state = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "plan": plan.to_dict(),
            "versions": library_versions(),
            "status": {status: counts.get(status, 0) for status in STATUSES},
            "units": units,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "execution": options.to_dict() if options else previous.get("execution"),
            **{k: previous[k] for k in ("tokenizer",) if k in previous},
            **extra,
        }
        atomic_write_text(self.sweep_file, json.dumps(state, indent=2) + "\n")
        return state

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's driver lock; refused while another live driver holds it."""
        path = self.path / LOCK_FILE
        if path.is_file():
            holder = json.loads(path.read_text() or "{}")
            same_host = holder.get("host") == socket.gethostname()
            if same_host and _process_alive(holder.get("pid"), holder.get("started")):
                raise UsageError(
                    f"another sweep (pid {holder['pid']}) is running in {self.path}; wait for it "
                    "or stop it first"
                )
        atomic_write_text(path, json.dumps(_this_process()))
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def open_sweep(out: str | Path, plan: SweepPlan, *, overwrite: bool = False) -> SweepFolder:
    """Check ``out`` before any work and return its folder.

    A folder whose ``sweep.json`` holds the same plan is resumed (done units are kept); a
    different plan, or a non-empty folder that is not a sweep, is refused unless ``overwrite``
    (then cleared). Nothing on disk changes when this raises.
    """
    path = prepare_out_dir(out, overwrite=True)  # checks the path; emptiness is decided here
    folder = SweepFolder(path)
    exists = path.is_dir() and any(path.iterdir())
    if exists and not overwrite:
        if not folder.sweep_file.is_file():
            raise UsageError(
                f"--out {path} already holds files that are not a sweep: choose a new --out, "
                "or pass --overwrite to replace its contents"
            )
        recorded = folder.read().get("plan", {})
        changed = _differences(recorded, plan.to_dict())
        if changed:
            raise UsageError(
                f"{path} holds a sweep with another plan ({'; '.join(changed[:4])}): rerun with "
                "the same settings to resume it, choose a new --out, or pass --overwrite"
            )
    if exists and overwrite:
        with folder.lock():
            _clear(path)
    path.mkdir(parents=True, exist_ok=True)
    return folder


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
