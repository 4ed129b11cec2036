"""``mechcirc experiment curriculum|grokking|ungrokking|semi-grokking|efficiency --out DIR``.

Each experiment writes a run folder: ``manifest.json`` (config, seed, versions, timings,
headline metrics), metrics as Parquet, figures as PNG and SVG, and (unless
``--no-checkpoints``) final weights as safetensors.
"""

from __future__ import annotations

import argparse
import json

from mechcirc.cli.common import comma_list, positive_int

# name -> (module under mechcirc.analyses.training, config class, run function)
EXPERIMENTS = {
    "curriculum": ("curriculum", "CurriculumConfig", "run_curriculum"),
    "grokking": ("grokking", "GrokkingConfig", "run_grokking"),
    "ungrokking": ("grokking", "UngrokkingConfig", "run_ungrokking"),
    "semi-grokking": ("grokking", "SemiGrokkingConfig", "run_semi_grokking"),
    "efficiency": ("efficiency", "EfficiencyConfig", "run_efficiency"),
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="training-dynamics experiments on toy models (curriculum, grokking, ...)",
        description="Run one experiment end to end and write metrics, figures and a manifest.",
    )
    parser.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty --out"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoints"
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks the mechanics")
    parser.add_argument(
        "--seeds",
        type=lambda text: comma_list(text, int, "integers"),
        default=None,
        help="comma-separated seeds",
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


def build_config(name: str, args: argparse.Namespace):
    """The experiment's config dataclass from defaults (or ``quick()``) and the CLI overrides."""
    from dataclasses import fields, replace
    from importlib import import_module

    from mechcirc.errors import UsageError

    module_name, config_name, _ = EXPERIMENTS[name]
    cls = getattr(import_module(f"mechcirc.analyses.training.{module_name}"), config_name)
    config = cls.quick() if args.quick else cls()
    known = {f.name: f for f in fields(cls)}
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in known or not value:
            raise UsageError(
                f"--set {item!r}: expected KEY=JSON with KEY one of {', '.join(known)}"
            )
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as err:
            raise UsageError(f"--set {item!r}: {value!r} is not JSON (quote strings)") from err
        overrides[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    for flag, key in ((args.seeds, "seeds"), (args.steps, "steps"), (args.workers, "workers")):
        if flag is not None:
            if key not in known:
                raise UsageError(f"--{key} does not apply to the {name} experiment")
            overrides[key] = flag
    if args.no_checkpoints and "save_checkpoints" in known:
        overrides["save_checkpoints"] = False
    if args.no_progress:
        overrides["progress"] = False
    return replace(config, **overrides)


def _run(args: argparse.Namespace) -> int:
    from importlib import import_module

    import torch

    from mechcirc.runs import RunFolder, prepare_out_dir

    torch.set_num_threads(1)
    config = build_config(args.name, args)
    out = prepare_out_dir(args.out, overwrite=args.overwrite, resume=args.resume, can_resume=True)
    module_name, _, function_name = EXPERIMENTS[args.name]
    run_function = getattr(
        import_module(f"mechcirc.analyses.training.{module_name}"), function_name
    )
    seeds = getattr(config, "seeds", None) or getattr(config, "seed", None)
    with RunFolder.create(
        out,
        command=f"experiment {args.name}",
        config=config.to_dict(),
        seed=seeds,
        model={"model_id": f"toy:{args.name}", "revision": None},
        overwrite=args.overwrite,
        resume=args.resume,
    ) as run:
        summary = run_function(config, run)
        run.finish(metrics=summary)
    print(json.dumps(summary, indent=2))
    print(f"wrote {run.path}")
    return 0
