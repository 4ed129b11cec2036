"""``mechcirc components ioi``: Tigges et al.'s IOI algorithm consistency at one checkpoint.

The flags map onto :class:`~mechcirc.analyses.components.IOIComponentsConfig` plus the model and
task specs; the work is :func:`~mechcirc.analyses.components.run_ioi_components`. Writes
``components.parquet`` (one row per head and role: scores and path-patching effects),
``ioi_consistency.parquet`` (share of IOI performance per role) and ``components.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechcirc.cli.common import (
    TEXT_HELP,
    add_model_args,
    add_out_args,
    model_run,
    positive_int,
    recorded_inputs,
)

__all__ = ["COMMAND", "config_from_args", "execute", "register", "rerun"]

COMMAND = "components"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "components", help="Tigges et al.'s component analyses (ioi: IOI algorithm consistency)"
    )
    parser.add_argument("analysis", choices=["ioi"], help="ioi: roles and shares of Fig. 4")
    add_model_args(parser)
    parser.add_argument("--n", type=positive_int, default=64, help="IOI prompt pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, help="quick: fewer prompts and sequences")
    parser.add_argument("--text", default=None, help=TEXT_HELP)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    add_out_args(parser, "runs/components-MODEL-REVISION-TIME")
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The :class:`IOIComponentsConfig` the flags describe (values checked here)."""
    from mechcirc.analyses.components import IOIComponentsConfig

    changes = {"n_prompts": args.n, "seed": args.seed, "batch_size": args.batch_size}
    if args.text is not None:
        if not Path(args.text).is_file():
            raise FileNotFoundError(2, "No such file or directory", args.text)
        changes["text"] = args.text
    if args.preset:
        return IOIComponentsConfig.preset(args.preset, **changes)
    return IOIComponentsConfig(**changes)


def _run(args: argparse.Namespace) -> int:
    from mechcirc.cli.common import model_spec_from_args
    from mechcirc.runs import default_run_dir
    from mechcirc.tasks.spec import TaskSpec

    config = config_from_args(args)
    inputs = {
        "model": model_spec_from_args(args),
        "task": TaskSpec("ioi", n=config.n_prompts, seed=config.seed),
    }
    out = args.out or default_run_dir("components", args.model, args.revision)
    return execute(config, inputs, out, overwrite=args.overwrite)


def execute(config, inputs: dict[str, Any], out: str | Path, *, overwrite: bool = False) -> int:
    """Run ``mechcirc components ioi`` from its config and inputs into ``out``."""
    from mechcirc.analyses.components import run_ioi_components
    from mechcirc.runs import prepare_out_dir

    model_spec, task_spec = inputs["model"], inputs["task"]
    prepare_out_dir(out, overwrite=overwrite)
    opened = model_run(out, COMMAND, config, inputs, seed=config.seed, overwrite=overwrite)
    with opened as (run, model):
        pairs = task_spec.load(model.tokenizer)
        result = run_ioi_components(model, pairs, config, run)
        run.finish()
    metrics = result.metrics()
    gap = metrics["baseline_gap"]
    print(f"IOI components of {model_spec.name} written to {run.path}")
    print(f"  logit diff clean {gap['clean']:.3f}, corrupted {gap['corrupted']:.3f}")
    for role, heads in metrics["roles"].items():
        print(f"  {role:<20} {', '.join(heads) or '-'}")
    for role, share in metrics["shares"].items():
        print(f"  share {role:<20} {share:6.1f}%")
    return 0


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``components`` manifest again into ``out``."""
    from mechcirc.analyses.components import IOIComponentsConfig

    config = IOIComponentsConfig.from_dict(manifest["config"])
    return execute(config, recorded_inputs(manifest), out, overwrite=overwrite)
