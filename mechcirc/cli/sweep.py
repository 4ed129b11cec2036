"""``mechcirc sweep``: analyses over checkpoints and model sizes, resumable, on local, Ray or Slurm.

    mechcirc sweep --models pythia-70m,pythia-160m --revisions sparse --tasks ioi,greater-than \\
        --analyses behaviour,eap,heads --out sweeps/ioi-gt [--executor local|ray|slurm]
    mechcirc sweep --config sweep.toml [flags that override the file]
    mechcirc sweep status DIR
    mechcirc sweep collect DIR

The flags map onto a :class:`~mechcirc.sweep.SweepPlan` (what is computed) and
:class:`~mechcirc.sweep.SweepOptions` (how it runs); every model, revision, task and analysis is
checked before anything runs. Exit codes: 0 all units done, 1 some failed (named), 2 bad input.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from mechcirc.cli.common import comma_list, finite_float, positive_int
from mechcirc.errors import MechcircError, UsageError

__all__ = [
    "COMMAND",
    "LIST_KEYS",
    "OPTION_KEYS",
    "OTHER_KEYS",
    "PLAN_KEYS",
    "RENAMED",
    "plan_and_options",
    "register",
    "settings_from_args",
]

COMMAND = "sweep"
LIST_KEYS = ("models", "tasks", "analyses", "head_scores")
PLAN_KEYS = (
    *LIST_KEYS,
    "revisions", "n", "seed", "ig_steps", "method", "criterion", "target", "search_step",
    "search_cap", "batch_size", "dtype", "edges_top_k",
)  # fmt: skip
OPTION_KEYS = (
    "executor", "workers", "threads", "device", "ray_address", "gpus_per_unit",
    "slurm_partition", "slurm_time_min", "slurm_array_parallelism", "slurm_cluster",
    "retry_failed", "delete_downloaded",
)  # fmt: skip
OTHER_KEYS = ("out", "overwrite")
# flag names that differ from the plan's field names
RENAMED = {"faithfulness_target": "target", "slurm_time": "slurm_time_min"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run analyses over checkpoints and model sizes into a resumable sweep folder",
        description="Run behaviour / EAP / head-score analyses over model checkpoints. "
        "`mechcirc sweep status DIR` and `mechcirc sweep collect DIR` inspect a sweep folder.",
    )
    _add_plan_args(parser)
    _add_engine_args(parser)
    parser.set_defaults(run=_run)
    actions = parser.add_subparsers(dest="sweep_action", metavar="{status,collect}")
    status = actions.add_parser("status", help="units done / failed / pending, with errors")
    status.add_argument("dir", help="a sweep folder")
    status.set_defaults(run=_status)
    collect = actions.add_parser("collect", help="rebuild the tables and figures from the units")
    collect.add_argument("dir", help="a sweep folder")
    collect.add_argument("--no-report", action="store_true", help="do not write report.html")
    collect.set_defaults(run=_collect)


def _add_plan_args(parser: argparse.ArgumentParser) -> None:
    plan = parser.add_argument_group("plan (what is computed; defaults in brackets)")
    plan.add_argument("--config", help="a sweep.toml holding any of these settings")
    plan.add_argument("--models", type=comma_list, help="comma-separated models (short names)")
    plan.add_argument(
        "--revisions",
        help="revisions: a list (step0,step1000), a range (step1000:step143000:1000) or a "
        "schedule: all, log, linear, sparse (the paper's 28)",
    )
    plan.add_argument("--tasks", type=comma_list, help="comma-separated tasks [ioi]")
    plan.add_argument("--analyses", type=comma_list, help="[behaviour,eap,heads]")
    plan.add_argument("--n", type=positive_int, help="prompt pairs per task [70]")
    plan.add_argument("--seed", type=int, help="seed of the prompt pairs and head data [0]")
    plan.add_argument("--ig-steps", type=positive_int, help="EAP-IG interpolation steps [5]")
    plan.add_argument("--method", help="attribution method [eap-ig-inputs]")
    plan.add_argument(
        "--criterion",
        choices=["fraction-of-clean", "normalized"],
        help="what the smallest circuit must reach [fraction-of-clean, as Tigges et al.]",
    )
    plan.add_argument("--faithfulness-target", type=finite_float, help="[0.8]")
    plan.add_argument("--search-step", type=positive_int, help="edges per search step [25]")
    plan.add_argument("--search-cap", type=positive_int, help="largest circuit searched [1600]")
    plan.add_argument("--batch-size", type=positive_int, help="[32]")
    plan.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="[float32]")
    plan.add_argument("--head-scores", type=comma_list, help="scores of the heads analysis")
    plan.add_argument("--edges-top-k", type=positive_int, help="top edges kept per unit [2000]")


def _add_engine_args(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("execution (never changes a result)")
    run.add_argument("--out", help="sweep folder (resumed if it holds the same plan)")
    run.add_argument("--overwrite", action="store_true", default=None, help="start afresh")
    run.add_argument("--retry-failed", action="store_true", default=None)
    run.add_argument("--no-report", action="store_true", help="do not write report.html")
    run.add_argument(
        "--delete-downloaded",
        action="store_true",
        default=None,
        help="delete each revision from the hub cache after its unit, if this sweep fetched it",
    )
    run.add_argument("--executor", choices=["local", "ray", "slurm"], help="[local]")
    run.add_argument("--workers", type=positive_int, help="local worker processes [1]")
    run.add_argument("--threads", type=positive_int, help="torch CPU threads per worker")
    run.add_argument("--device", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N [auto]")
    run.add_argument("--ray-address", help="join a Ray cluster: auto or HOST:PORT")
    run.add_argument("--gpus-per-unit", type=finite_float, help="GPUs per Ray task / Slurm job")
    run.add_argument("--slurm-partition")
    run.add_argument("--slurm-time", type=positive_int, help="minutes per Slurm job [60]")
    run.add_argument("--slurm-array-parallelism", type=positive_int, help="[16]")
    run.add_argument(
        "--slurm-cluster",
        choices=["slurm", "local", "debug"],
        help="submitit backend (default: slurm when sbatch exists; local runs jobs here)",
    )


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's settings: ``--config`` file values, overridden by the flags given."""
    settings = _read_config(Path(args.config)) if args.config else {}
    for key, value in vars(args).items():
        key = RENAMED.get(key, key)
        if key in (*PLAN_KEYS, *OPTION_KEYS, *OTHER_KEYS) and value is not None:
            settings[key] = list(value) if key in LIST_KEYS else value
    return settings


def _read_config(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path} is not valid TOML: {err}") from err
    settings = {}
    for key, value in raw.items():
        name = RENAMED.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in (*PLAN_KEYS, *OPTION_KEYS, *OTHER_KEYS):
            known = ", ".join(sorted({*PLAN_KEYS, *OPTION_KEYS, *OTHER_KEYS}))
            raise UsageError(f"{path}: unknown setting {key!r}; known settings: {known}")
        if name in LIST_KEYS and isinstance(value, str):
            value = list(comma_list(value))
        settings[name] = value
    return settings


def plan_and_options(settings: dict[str, Any]):
    """The checked :class:`SweepPlan` and :class:`SweepOptions` of ``settings``."""
    from mechcirc.analyses.heads import HeadScoresConfig
    from mechcirc.sweep import SweepOptions, build_plan

    plan_settings = {k: settings[k] for k in PLAN_KEYS if k in settings}
    for required in ("models", "revisions"):
        if required not in plan_settings:
            raise UsageError(f"a sweep needs --{required} (or `{required} = ...` in --config)")
    for key in LIST_KEYS:
        if key in plan_settings:
            plan_settings[key] = tuple(plan_settings[key])
    if "head_scores" in plan_settings:
        plan_settings["head_scores"] = HeadScoresConfig.parse_scores(
            ",".join(plan_settings["head_scores"])
        )
    plan = build_plan(**plan_settings)
    options = SweepOptions.from_dict({k: settings[k] for k in OPTION_KEYS if k in settings})
    return plan, options


def _run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if "out" not in settings:
        raise UsageError("a sweep needs --out DIR (the sweep folder)")
    plan, options = plan_and_options(settings)

    from mechcirc.sweep import run_sweep

    result = run_sweep(
        plan,
        settings["out"],
        options,
        overwrite=bool(settings.get("overwrite")),
        report=not args.no_report,
    )
    _print_status(result.path, result.status, result.failed, ran=result.ran)
    print(f"tables: {result.path}/*.parquet")
    _print_figures(result.path)
    if not args.no_report:
        print(f"report: {result.path / 'report.html'}")
    if result.failed:
        total = sum(result.status.values())
        raise MechcircError(
            f"{len(result.failed)} of {total} units failed (rerun with --retry-failed to redo "
            f"them; `mechcirc sweep status {result.path}` lists their errors)"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    from collections import Counter

    from mechcirc.sweep import SweepFolder

    folder = SweepFolder(Path(args.dir))
    units = folder.unit_states(folder.plan())
    counts = Counter(unit["status"] for unit in units)
    status = {key: counts.get(key, 0) for key in ("done", "failed", "pending", "running")}
    failed = [unit for unit in units if unit["status"] == "failed"]
    _print_status(folder.path, status, failed)
    pending = [f"{u['model']}@{u['revision']}" for u in units if u["status"] == "pending"]
    if pending:
        print(f"pending: {', '.join(pending[:10])}{' ...' if len(pending) > 10 else ''}")
    return 0


def _print_figures(sweep: Path) -> None:
    names = sorted(path.stem for path in (sweep / "figures").glob("*.png"))
    print(f"figures: {sweep / 'figures'} ({', '.join(names) or 'none'}; PNG and SVG)")


def _collect(args: argparse.Namespace) -> int:
    from mechcirc.sweep import collect

    tables = collect(args.dir, report=not args.no_report)
    for name, frame in tables.items():
        print(f"{Path(args.dir) / name}.parquet: {len(frame)} rows")
    _print_figures(Path(args.dir))
    if not args.no_report:
        print(f"report: {Path(args.dir) / 'report.html'}")
    return 0


def _print_status(path, status: dict[str, int], failed: list[dict], ran: int | None = None) -> None:
    here = f" ({ran} run now)" if ran is not None else ""
    counts = ", ".join(f"{count} {name}" for name, count in status.items())
    print(f"sweep {path}: {counts}{here}")
    for unit in failed:
        error = unit.get("error") or {}
        print(
            f"  failed {unit['model']}@{unit['revision']}: {error.get('type')}: "
            f"{error.get('message')}"
        )
