"""``mechcirc path-patch``: path patching from sender heads to receiver inputs or logits.

The flags map onto :class:`~mechcirc.analyses.path_patching.PathPatchConfig` plus the model
and task specs; the work is :func:`~mechcirc.analyses.path_patching.path_patch`. With
``--name-movers auto`` the receivers are chosen after the model loads and the manifest records
the chosen ones, so ``mechcirc rerun`` patches the same paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechcirc.cli.common import (
    add_model_args,
    add_out_args,
    comma_list,
    model_run,
    positive_int,
    recorded_inputs,
)

__all__ = ["COMMAND", "config_from_args", "execute", "register", "rerun"]

COMMAND = "path-patch"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "path-patch",
        help="path patching: each sender head -> receiver q/k/v inputs or logits, "
        "corrupted into clean, everything else frozen",
    )
    add_model_args(parser)
    parser.add_argument("--task", default="ioi", help="task name or EAP-IG-format CSV (ioi)")
    parser.add_argument("--n", type=positive_int, default=32, help="prompt pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--receivers",
        default=None,
        help="comma-separated receiver nodes: a{L}.h{H}<q|k|v> (KV head for k/v under "
        "grouped-query attention) or logits",
    )
    parser.add_argument(
        "--name-movers",
        default=None,
        help="S-inhibition check (IOI): receivers are these heads' queries, e.g. a9.h9,a10.h0; "
        "'auto' takes the --n-name-movers heads (layer > 0) with the highest name-mover score",
    )
    parser.add_argument("--n-name-movers", type=positive_int, default=3)
    parser.add_argument(
        "--senders",
        default="all",
        help="comma-separated sender heads a{L}.h{H}, or all (every head upstream of receivers)",
    )
    parser.add_argument(
        "--no-freeze-mlps",
        action="store_true",
        help="let MLPs recompute (paths through MLPs count); default freezes them at clean",
    )
    parser.add_argument(
        "--positions",
        default="all",
        choices=["all", "end"],
        help="patch the receivers at every position (default) or only at the final token",
    )
    parser.add_argument("--batch-size", type=positive_int, default=16)
    add_out_args(parser, "runs/path-patch-MODEL-TASK-REVISION-TIME")
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The :class:`PathPatchConfig` the flags describe (``logits`` stands in for receivers
    that ``--name-movers auto`` chooses after loading)."""
    from mechcirc.analyses.path_patching import PathPatchConfig
    from mechcirc.errors import UsageError

    if (args.receivers is None) == (args.name_movers is None):
        raise UsageError("give exactly one of --receivers or --name-movers")
    if args.receivers is not None:
        receivers = comma_list(args.receivers)
    elif args.name_movers == "auto":
        receivers = ("logits",)
    else:
        receivers = tuple(f"{head}<q>" for head in comma_list(args.name_movers))
    return PathPatchConfig(
        receivers=receivers,
        senders=None if args.senders == "all" else comma_list(args.senders),
        freeze_mlps=not args.no_freeze_mlps,
        positions=args.positions,
        batch_size=args.batch_size,
    )


def _run(args: argparse.Namespace) -> int:
    from mechcirc.cli.common import model_spec_from_args
    from mechcirc.runs import default_run_dir
    from mechcirc.tasks.spec import TaskSpec

    config = config_from_args(args)
    inputs = {
        "model": model_spec_from_args(args),
        "task": TaskSpec(args.task, n=args.n, seed=args.seed),
    }
    auto = args.n_name_movers if args.name_movers == "auto" else None
    out = args.out or default_run_dir("path-patch", args.model, Path(args.task).stem, args.revision)
    return execute(config, inputs, out, overwrite=args.overwrite, auto_name_movers=auto)


def _auto_receivers(model, pairs, n_movers: int) -> tuple[str, ...]:
    from mechcirc.measures.name_movers import name_mover_scores

    scores = name_mover_scores(model, pairs.clean, pairs.positions)["name_mover"]
    ranked = scores.top(model.cfg.n_layers * model.cfg.n_heads)
    # Layer-0 heads have no upstream senders, so they cannot be receivers.
    movers = [(layer, head) for layer, head, _ in ranked if layer > 0][:n_movers]
    return tuple(f"a{layer}.h{head}<q>" for layer, head in movers)


def execute(
    config,
    inputs: dict[str, Any],
    out: str | Path,
    *,
    overwrite: bool = False,
    auto_name_movers: int | None = None,
) -> int:
    """Run ``mechcirc path-patch`` from its config and inputs into ``out`` (also ``rerun``)."""
    from mechcirc.analyses.path_patching import path_patch
    from mechcirc.runs import prepare_out_dir

    task_spec = inputs["task"]
    prepare_out_dir(out, overwrite=overwrite)
    opened = model_run(out, COMMAND, config, inputs, seed=task_spec.seed, overwrite=overwrite)
    with opened as (run, model):
        pairs = task_spec.load(model.tokenizer)
        if auto_name_movers is not None:
            config = config.replace(receivers=_auto_receivers(model, pairs, auto_name_movers))
            run.update(config=config.to_dict())
        result = path_patch(model, pairs, config, run, progress=True)
        run.finish()
    print(f"path patching -> {', '.join(config.receivers)} written to {run.path}")
    print(f"  clean {result.clean_metric:.4f}  corrupted {result.corrupted_metric:.4f}")
    for row in result.to_frame().sort_values("effect").head(5).itertuples():
        print(f"  {row.sender:<8} effect {row.effect:+.4f}  ({row.normalized_effect:+.1%})")
    return 0


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``path-patch`` manifest again into ``out``."""
    from mechcirc.analyses.path_patching import PathPatchConfig

    config = PathPatchConfig.from_dict(manifest["config"])
    return execute(config, recorded_inputs(manifest), out, overwrite=overwrite)
