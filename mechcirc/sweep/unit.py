"""One unit of a sweep: load the model at one revision, run every analysis, mark it done last.

:func:`run_unit` is the function every engine runs (in-process, in worker processes, as a Ray
task or a Slurm job): it reads nothing but the sweep folder, writes nothing outside its unit
folder (except deleting a revision it downloaded, with ``delete_downloaded``), and never raises
for a unit that fails: the failure (type and one-line message) is recorded in the unit's
manifest and returned. An interrupt (SIGINT / SIGTERM) marks the unit ``interrupted`` and
propagates.

Example:
    >>> run_unit(plan, Unit("pythia-70m", "step1000", 1000), sweep_dir="sweeps/ioi",
    ...          options=SweepOptions())                                   # doctest: +SKIP
    {'model': 'pythia-70m', 'revision': 'step1000', 'status': 'done', 'ran': True, ...}
"""

from __future__ import annotations

import logging
import resource
import time
from pathlib import Path
from typing import Any

from mechcirc.errors import MechcircError, UsageError
from mechcirc.models.names import resolve_model_id
from mechcirc.models.spec import ModelSpec
from mechcirc.models.summary import describe_model
from mechcirc.runs import RunFolder
from mechcirc.sweep import models as unit_models
from mechcirc.sweep.folder import SweepFolder, unit_status
from mechcirc.sweep.hub_cache import delete_cached_revision, revision_cached
from mechcirc.sweep.pairs import read_pairs, tokenizer_fingerprint
from mechcirc.sweep.plan import SweepOptions, SweepPlan, Unit
from mechcirc.sweep.registry import UnitContext, get_analysis

__all__ = ["UNIT_COMMAND", "run_unit", "run_unit_job"]

log = logging.getLogger(__name__)

UNIT_COMMAND = "sweep-unit"


def run_unit(
    plan: SweepPlan, unit: Unit, *, sweep_dir: str | Path, options: SweepOptions
) -> dict[str, Any]:
    """Run ``unit`` unless its manifest says ``done`` (or ``failed``, without
    ``options.retry_failed``); return ``{"model", "revision", "status", "ran", "error",
    "seconds"}``."""
    folder = SweepFolder(Path(sweep_dir))
    path = folder.unit_path(unit)
    status, error = unit_status(path)
    if status == "done" or (status == "failed" and not options.retry_failed):
        return _outcome(unit, status, error, ran=False, seconds=0.0)
    started = time.perf_counter()
    model_id = resolve_model_id(unit.model)
    cached_before = revision_cached(model_id, unit.revision)
    try:
        _compute(folder, plan, unit, options, downloaded=not cached_before)
    except Exception as err:  # a missing revision, out of memory: recorded, the sweep goes on
        if not isinstance(err, MechcircError):
            log.exception("unit %s failed", unit.label)
        return _failed(unit, err, started)
    except BaseException:  # an interrupt: the unit is marked interrupted; stop here
        unit_models.MODEL_SLOT.release()
        raise
    if options.delete_downloaded and not cached_before:
        delete_cached_revision(model_id, unit.revision)
    return _outcome(unit, "done", None, ran=True, seconds=time.perf_counter() - started)


def _compute(
    folder: SweepFolder, plan: SweepPlan, unit: Unit, options: SweepOptions, *, downloaded: bool
) -> None:
    spec = ModelSpec(unit.model, unit.revision, device=options.device, dtype=plan.dtype)
    with RunFolder.create(
        folder.unit_path(unit),
        command=UNIT_COMMAND,
        config=plan.to_dict(),
        inputs={"model": spec.to_dict(), "tasks": list(plan.tasks)},
        seed=plan.seed,
        argv=[],
        overwrite=True,
    ) as run:
        model = unit_models.MODEL_SLOT.load(spec)
        run.update(model=describe_model(model), downloaded=downloaded)
        _check_tokenizer(folder, model)
        context = UnitContext(
            model=model,
            plan=plan,
            unit=unit,
            model_spec=spec,
            run=run,
            pairs=read_pairs(folder.path, plan, model.tokenizer),
        )
        for name in plan.analyses:
            get_analysis(name).run(context)
        # the process's peak so far: equal across a process's units when memory stays flat
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run.update(resources={"process_max_rss_mib": round(peak, 1)})


def _check_tokenizer(folder: SweepFolder, model) -> None:
    expected = (folder.read().get("tokenizer") or {}).get("fingerprint")
    found = tokenizer_fingerprint(model.tokenizer)
    if expected and found != expected:
        raise MechcircError(
            f"this model's tokenizer ({found}) differs from the one the sweep's prompt pairs were "
            f"made with ({expected}): its units would see different prompts"
        )


def _failed(unit: Unit, err: BaseException, started: float) -> dict[str, Any]:
    unit_models.MODEL_SLOT.release()  # a failed unit's model may hold hooks or half a load
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    error = {"type": type(err).__name__, "message": message}
    return _outcome(unit, "failed", error, ran=True, seconds=time.perf_counter() - started)


def _outcome(
    unit: Unit, status: str, error: dict | None, *, ran: bool, seconds: float
) -> dict[str, Any]:
    return {
        "model": unit.model,
        "revision": unit.revision,
        "status": status,
        "ran": ran,
        "error": error,
        "seconds": round(seconds, 3),
    }


def run_unit_job(sweep_dir: str, model: str, revision: str) -> dict[str, Any]:
    """:func:`run_unit` from strings alone, reading the plan and the options from
    ``sweep.json``: what the engines ship to a worker process, a Ray task or a Slurm job."""
    import torch

    folder = SweepFolder(Path(sweep_dir))
    plan, options = folder.plan(), folder.options()
    if options.threads:
        torch.set_num_threads(options.threads)
    for unit in plan.units():
        if (unit.model, unit.revision) == (model, revision):
            return run_unit(plan, unit, sweep_dir=sweep_dir, options=options)
    raise UsageError(f"{model}@{revision} is not a unit of the sweep in {sweep_dir}")
