"""``mechcirc experiment curriculum|grokking|ungrokking|semi-grokking|efficiency --out DIR``.

The flags build the experiment's typed config (a preset, then ``--seeds`` / ``--steps`` /
``--workers``, then ``--set KEY=JSON``; every value checked before anything runs); the work is
:func:`mechcirc.analyses.training.run_experiment`, exactly what a notebook calls. Each run
writes a run folder: ``manifest.json`` (config, seed, versions, timings, headline metrics),
metrics as Parquet, figures as PNG and SVG and (unless ``--no-checkpoints``) weights as
safetensors. ``mechcirc rerun`` runs a recorded experiment again from its manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mechcirc.cli.common import comma_list, positive_int

__all__ = ["NAMES", "config_from_args", "execute", "register", "rerun"]

NAMES = ("curriculum", "efficiency", "grokking", "semi-grokking", "ungrokking")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="training-dynamics experiments on toy models (curriculum, grokking, ...)",
        description="Run one experiment end to end and write metrics, figures and a manifest.",
    )
    parser.add_argument("name", choices=NAMES, help="which experiment")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty --out"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    parser.add_argument(
        "--preset", default=None, help="named settings (e.g. paper, p47, quick; default paper)"
    )
    parser.add_argument("--quick", action="store_true", help="--preset quick: the mechanics")
    parser.add_argument(
        "--seeds",
        type=lambda text: comma_list(text, int, "integers"),
        default=None,
        help="comma-separated seeds (curriculum)",
    )
    parser.add_argument("--steps", type=positive_int, default=None, help="override the step count")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="processes for independent runs (curriculum seeds)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override any config field, e.g. --set p=59 --set train_fraction=0.4",
    )
    parser.add_argument("--no-checkpoints", action="store_true", help="do not save weights")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The experiment's typed config the flags describe (checked here, before any work)."""
    from mechcirc.analyses.training.experiments import experiment_config
    from mechcirc.errors import UsageError

    if args.quick and args.preset not in (None, "quick"):
        raise UsageError(f"--quick is --preset quick; it cannot go with --preset {args.preset}")
    overrides: dict[str, Any] = {
        key: value
        for key, value in (("seeds", args.seeds), ("steps", args.steps), ("workers", args.workers))
        if value is not None
    }
    config = experiment_config(
        args.name,
        preset="quick" if args.quick else args.preset,
        overrides=overrides,
        assignments=args.set,
    )
    switches = {"save_checkpoints": not args.no_checkpoints, "progress": not args.no_progress}
    fields = config.to_dict()
    return config.replace(**{k: v for k, v in switches.items() if k in fields and not v})


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    inputs = {"experiment": args.name}
    return execute(config, inputs, args.out, overwrite=args.overwrite, resume=args.resume)


def execute(
    config, inputs: dict[str, Any], out: str | Path, *, overwrite=False, resume=False
) -> int:
    """Run ``mechcirc experiment`` from its config into ``out`` (also ``mechcirc rerun``)."""
    import torch

    from mechcirc.analyses.training.experiments import find_experiment
    from mechcirc.runs import RunFolder, prepare_out_dir

    experiment = find_experiment(inputs["experiment"])
    out = prepare_out_dir(out, overwrite=overwrite, resume=resume, can_resume=True)
    if resume:
        _check_resume(experiment, config, out)
    torch.set_num_threads(1)
    seeds = getattr(config, "seeds", None) or getattr(config, "seed", None)
    with RunFolder.create(
        out,
        command=f"experiment {experiment.name}",
        config=config.to_dict(),
        inputs=inputs,
        seed=seeds,
        model={"model_id": f"toy:{experiment.name}", "revision": None},
        overwrite=overwrite,
        resume=resume,
    ) as run:
        options = {"resume": True} if resume else {}
        summary = experiment.run(config, run, **options).metrics()
        run.finish(metrics=summary)
    print(json.dumps(summary, indent=2, default=str))
    print(f"wrote {run.path}")
    return 0


def _check_resume(experiment, config, out: Path) -> None:
    """Refuse ``--resume`` before the folder is touched: unsupported, or other data."""
    from mechcirc.analyses.training.experiments import EXPERIMENTS
    from mechcirc.errors import UsageError
    from mechcirc.training import CHECKPOINT_FILE, resume_problem

    if not experiment.resumable:
        resumable = [name for name, e in EXPERIMENTS.items() if e.resumable]
        raise UsageError(
            f"--resume applies to {', '.join(resumable)}; rerun {experiment.name} with "
            "--overwrite or a new --out"
        )
    problem = resume_problem(out / CHECKPOINT_FILE, config.data())
    if problem:
        raise UsageError(f"--resume: {problem}")


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``experiment`` manifest again into ``out``."""
    from mechcirc.analyses.training.experiments import find_experiment

    experiment = find_experiment(manifest["inputs"]["experiment"])
    config = experiment.config_class().from_dict(manifest["config"])
    return execute(config, manifest["inputs"], out, overwrite=overwrite)
