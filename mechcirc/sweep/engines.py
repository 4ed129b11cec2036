"""Engines: run units in-process, in worker processes, as Ray tasks or as Slurm jobs.

Every engine ships the same function, :func:`~mechcirc.sweep.unit.run_unit_job`, with three
strings (sweep folder, model, revision); the worker reads the plan from ``sweep.json`` and
writes only into its unit folder, so the sweep folder (on a shared filesystem for clusters) is
the only coordination. Results come back to the driver one by one through ``on_result``.

- ``local``: one unit after another in this process (the model of the previous unit is handed
  to the next), or ``workers`` spawned processes.
- ``ray``: each unit a Ray task (``num_gpus=gpus_per_unit``); ``ray_address`` joins a cluster,
  none starts Ray locally. Needs ``pip install mechcirc[ray]``.
- ``slurm``: one submitit job array (``slurm_partition``, ``slurm_time_min``, ``gpus_per_unit``,
  ``slurm_array_parallelism``); ``slurm_cluster="local"`` runs the same jobs through submitit's
  local executor. Needs ``pip install mechcirc[slurm]``.

Example:
    >>> run_units("sweeps/ioi", units, SweepOptions(executor="ray"), print)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from mechcirc.errors import UsageError
from mechcirc.sweep.models import MODEL_SLOT
from mechcirc.sweep.plan import SweepOptions, Unit
from mechcirc.sweep.unit import run_unit_job

__all__ = ["run_units"]

log = logging.getLogger(__name__)

OnResult = Callable[[Unit, dict[str, Any] | BaseException], None]


def run_units(
    sweep_dir: str | Path, units: Sequence[Unit], options: SweepOptions, on_result: OnResult
) -> None:
    """Run ``units`` on ``options.executor``; ``on_result(unit, outcome)`` as each finishes
    (``outcome`` is the exception when the engine lost the unit, e.g. a crashed worker)."""
    if not units:
        return
    sweep_dir = str(Path(sweep_dir).resolve())
    engine = {"local": _run_local, "ray": _run_ray, "slurm": _run_slurm}[options.executor]
    engine(sweep_dir, list(units), options, on_result)


def _run_local(sweep_dir: str, units: list[Unit], options: SweepOptions, on_result) -> None:
    if options.workers == 1:
        try:
            for unit in units:
                on_result(unit, run_unit_job(sweep_dir, unit.model, unit.revision))
        finally:
            MODEL_SLOT.release()
        return
    context = multiprocessing.get_context("spawn")  # never fork a process holding torch
    with ProcessPoolExecutor(options.workers, mp_context=context) as pool:
        futures = {
            pool.submit(run_unit_job, sweep_dir, unit.model, unit.revision): unit for unit in units
        }
        for future in as_completed(futures):
            _report(futures[future], future.result, on_result)


def _run_ray(sweep_dir: str, units: list[Unit], options: SweepOptions, on_result) -> None:
    ray = _optional("ray", "ray")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.ray_address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=options.gpus_per_unit)(run_unit_job)
        pending = {remote.remote(sweep_dir, u.model, u.revision): u for u in units}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            _report(pending.pop(ref), lambda ref=ref: ray.get(ref), on_result)
    finally:
        if started_here:
            ray.shutdown()


def _run_slurm(sweep_dir: str, units: list[Unit], options: SweepOptions, on_result) -> None:
    submitit = _optional("submitit", "slurm")
    executor = submitit.AutoExecutor(
        folder=Path(sweep_dir) / "slurm" / "%j", cluster=options.slurm_cluster
    )
    parameters = {
        "timeout_min": options.slurm_time_min,
        "slurm_array_parallelism": options.slurm_array_parallelism,
        "gpus_per_node": int(options.gpus_per_unit),
        "cpus_per_task": options.threads or 1,
        "name": "mechcirc-sweep",
    }
    if options.slurm_partition:
        parameters["slurm_partition"] = options.slurm_partition
    executor.update_parameters(**parameters)
    jobs = executor.map_array(
        run_unit_job,
        [sweep_dir] * len(units),
        [u.model for u in units],
        [u.revision for u in units],
    )
    by_job = {id(job): unit for job, unit in zip(jobs, units, strict=True)}
    for job in submitit.helpers.as_completed(jobs):
        _report(by_job[id(job)], job.result, on_result)


def _report(unit: Unit, result: Callable[[], dict], on_result: OnResult) -> None:
    try:
        outcome = result()
    except KeyboardInterrupt:
        raise
    except Exception as err:  # the engine lost the unit (a crashed worker): the driver records it
        log.warning("unit %s was lost by the engine: %s", unit.label, err)
        outcome = err
    on_result(unit, outcome)


def _optional(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise UsageError(
            f"--executor {extra} needs {module}: pip install 'mechcirc[{extra}]'"
        ) from err
