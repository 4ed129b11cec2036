"""``mechcirc l3d``: decompose a toy's or a language model's per-sample gradients into subnetworks.

The flags map onto :class:`~mechcirc.analyses.l3d.L3DConfig` and the run's inputs (a
:class:`~mechcirc.analyses.l3d.ToyInputs`, or a :class:`~mechcirc.models.spec.ModelSpec` and a
:class:`~mechcirc.analyses.l3d.TokenData`); the work is :func:`~mechcirc.analyses.l3d.decompose`.
Every flag, ``--out`` and a ``--resume``'s compatibility are checked before anything is loaded
or written. ``--preset paper`` selects the paper's L3D settings and, for a toy, its training.

Several toy runs in one process (``--seeds 0,1,2``, ``--divergence mse,mse-authors``): one run
folder per (divergence, seed) under ``--out`` (``seed0``, or ``mse-authors-seed0`` with several
divergences), each an ordinary ``l3d`` run folder (``mechcirc rerun`` runs it alone); the toys
are trained together and the decompositions fitted together
(:func:`~mechcirc.analyses.l3d.decompose_members`), each equal to its own run to float
rounding, for about the cost of one.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechcirc.cli.common import add_model_args, add_out_args, comma_list, finite_float, positive_int

__all__ = [
    "COMMAND",
    "CONFIG_FLAGS",
    "DIVERGENCES",
    "TOY_WEIGHTS",
    "config_from_args",
    "execute",
    "execute_members",
    "inputs_from_args",
    "members_from_args",
    "register",
    "rerun",
]

COMMAND = "l3d"
TOY_WEIGHTS = "toy_model.safetensors"

# flag -> L3DConfig field, for the flags that override the preset
CONFIG_FLAGS = (
    "params", "n_subnetworks", "rank", "rank_fraction", "topk", "steps", "batch_size",
    "n_train", "lr", "lr_decay", "lr_decay_every", "weight_decay", "dense_steps",
    "subnetwork_chunk", "seed", "n_eval", "n_references", "n_top", "deltas",
)  # fmt: skip


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "l3d",
        help="L3D: sparse low-rank subnetworks of per-sample gradients, with interventions",
        description="Local loss-landscape decomposition (Chrisman et al. 2025) of a built-in toy "
        "(--toy) or of a model's parameters matching --params (--model).",
    )
    parser.add_argument("--toy", help="tms, circuit-superposition, high-rank, squares, ...")
    parser.add_argument(
        "--toy-training", choices=["paper", "fast"], help="toy training (default: --preset's)"
    )
    parser.add_argument("--toy-steps", type=positive_int, help="toy training steps (override)")
    parser.add_argument(
        "--divergence",
        type=lambda t: comma_list(t, str, "divergences"),
        default=("mse",),
        help="mse (the draft's), mse-authors (the authors' code), or both: mse,mse-authors",
    )
    parser.add_argument(
        "--seeds",
        type=lambda t: comma_list(t, int, "integers"),
        help="several toy seeds in one process (one run folder each under --out)",
    )
    parser.add_argument(
        "--toy-weights",
        help="toy_model.safetensors of an earlier run to reuse ('{seed}' is each run's seed)",
    )
    add_model_args(parser, required=False)
    fit = parser.add_argument_group("decomposition (defaults: --preset, then the toy's settings)")
    fit.add_argument("--preset", choices=["paper", "fast", "paper-lm"], help="named settings")
    fit.add_argument("--params", help="fnmatch pattern(s), comma-separated ('blocks.3.attn.*')")
    for flag in ("n-subnetworks", "rank", "steps", "batch-size", "n-train", "n-eval", "n-top"):
        fit.add_argument(f"--{flag}", type=positive_int)
    for flag in ("rank-fraction", "topk", "lr", "lr-decay", "weight-decay"):
        fit.add_argument(f"--{flag}", type=finite_float)
    for flag in ("lr-decay-every", "dense-steps", "subnetwork-chunk", "seed", "n-references"):
        fit.add_argument(f"--{flag}", type=int)
    fit.add_argument("--deltas", type=lambda t: comma_list(t, float, "numbers"))
    fit.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    data = parser.add_argument_group("language-model texts (default: random tokens)")
    data.add_argument("--text", help="plain-text file cut into --seq-len windows")
    data.add_argument("--task", help="prompt-pair task (clean prompts, last position)")
    data.add_argument("--n-texts", type=positive_int, default=512)
    data.add_argument("--n-eval-texts", type=positive_int, default=64)
    data.add_argument("--seq-len", type=positive_int, default=16)
    data.add_argument("--positions", choices=["all", "last"], default=None)
    add_out_args(parser, "runs/l3d-TOY-or-MODEL-TIME")
    parser.add_argument("--resume", action="store_true", help="continue --out's checkpoint")
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The :class:`L3DConfig` the flags describe: preset, then the toy's settings, then flags."""
    from mechcirc.analyses.l3d import L3DConfig, get_toy
    from mechcirc.config import parse_assignments

    values: dict[str, Any] = dict(L3DConfig.PRESETS.get(args.preset, {}))
    if args.toy:
        spec = get_toy(args.toy)
        values.update(n_subnetworks=spec.n_subnetworks, rank=spec.rank, topk=spec.topk)
    values.update({k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k) is not None})
    values.update(parse_assignments(args.set, L3DConfig.__dataclass_fields__))
    return L3DConfig.from_dict(values)


DIVERGENCES = ("mse", "mse-authors")


def inputs_from_args(args: argparse.Namespace, seed: int | None = None, divergence: str = "mse"):
    """The run's typed inputs: a toy, or a model and its texts (checked, nothing loaded)."""
    from mechcirc.analyses.l3d import TokenData, ToyInputs, ToyTrainingConfig
    from mechcirc.errors import UsageError

    if bool(args.toy) == bool(args.model):
        raise UsageError("give --toy NAME or --model NAME (one of them)")
    seed = (args.seed or 0) if seed is None else seed
    if args.toy:
        preset = args.toy_training or ("paper" if args.preset == "paper" else "fast")
        training = ToyTrainingConfig.preset(preset)
        if args.toy_steps:
            training = training.replace(steps=args.toy_steps)
        weights = args.toy_weights.replace("{seed}", str(seed)) if args.toy_weights else None
        weights = str(Path(weights).resolve()) if weights else None
        return {"toy": ToyInputs(args.toy, seed, training, divergence, weights)}
    from mechcirc.cli.common import model_spec_from_args

    if not args.params:
        raise UsageError("--model needs --params, e.g. --params 'blocks.0.attn.*'")
    if args.text and args.task:
        raise UsageError("give --text or --task, not both")
    source = "text" if args.text else "task" if args.task else "random"
    data = TokenData(
        source=source,
        path=str(Path(args.text).resolve()) if args.text else None,
        task=args.task,
        n_texts=args.n_texts,
        n_eval=args.n_eval_texts,
        seq_len=args.seq_len,
        positions=args.positions or ("last" if args.task else "all"),
        seed=seed,
    )
    return {"model": model_spec_from_args(args), "data": data}


def members_from_args(args: argparse.Namespace) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(folder label, config, inputs)`` of each run the flags ask for (one unless
    ``--seeds`` or several divergences are given: then one sub-folder each)."""
    from mechcirc.errors import UsageError

    divergences = args.divergence
    if not divergences or any(d not in DIVERGENCES for d in divergences):
        raise UsageError(f"--divergence: expected {' or '.join(DIVERGENCES)}, got {divergences}")
    seeds = args.seeds or (args.seed or 0,)
    if args.seeds is not None and args.seed is not None:
        raise UsageError("give --seed or --seeds, not both")
    if len(set(seeds)) != len(seeds) or len(set(divergences)) != len(divergences):
        raise UsageError(f"repeated seed or divergence in {seeds} / {divergences}")
    if args.model and (args.seeds or len(divergences) > 1 or divergences[0] != "mse"):
        raise UsageError("--seeds and --divergence are for toys (a language model uses KL)")
    if (args.seeds is not None or len(divergences) > 1) and args.resume:
        raise UsageError("--resume continues one run: resume each run folder on its own")
    base = config_from_args(args)
    return [
        (
            f"{d}-seed{s}" if len(divergences) > 1 else f"seed{s}",
            base if args.seeds is None else base.replace(seed=s),
            inputs_from_args(args, s, d),
        )
        for d in divergences
        for s in seeds
    ]


def _run(args: argparse.Namespace) -> int:
    from mechcirc.runs import default_run_dir

    members = members_from_args(args)
    config = members[0][1]
    label = args.toy or Path(args.model).stem
    seeds = sorted({c.seed for _, c, _ in members})
    out = Path(args.out or default_run_dir("l3d", label, "seed" + "-".join(map(str, seeds))))
    if len(members) == 1 and args.seeds is None:
        return execute(config, members[0][2], out, overwrite=args.overwrite, resume=args.resume)
    return execute_members(
        [c for _, c, _ in members],
        [i["toy"] for _, _, i in members],
        [out / name for name, _, _ in members],
        overwrite=args.overwrite,
    )


def _check_resume(out: Path, config, inputs: dict[str, Any]) -> None:
    """A ``--resume`` must continue the same run: same inputs, compatible config."""
    from mechcirc.analyses.l3d import CHECKPOINT, check_resumable
    from mechcirc.errors import UsageError
    from mechcirc.runs import read_manifest

    previous = read_manifest(out).get("inputs")
    now = {k: v.to_dict() for k, v in inputs.items()}
    if previous != now:
        raise UsageError(f"cannot resume {out}: it ran on {previous}, not {now}")
    check_resumable(out / CHECKPOINT, config)


def execute(config, inputs: dict[str, Any], out: str | Path, *, overwrite=False, resume=False):
    """Run ``mechcirc l3d`` from its config and inputs into ``out`` (also ``mechcirc rerun``)."""
    from mechcirc.analyses.l3d import decompose, token_target, toy_target
    from mechcirc.analyses.l3d.reports import write_text_report, write_toy_report
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder, prepare_out_dir

    out = prepare_out_dir(out, overwrite=overwrite, resume=resume, can_resume=True)
    if resume:
        _check_resume(out, config, inputs)
    with RunFolder.create(
        out,
        command=COMMAND,
        config=config.to_dict(),
        inputs={k: v.to_dict() for k, v in inputs.items()},
        seed=config.seed,
        overwrite=overwrite,
        resume=resume,
    ) as run:
        if "toy" in inputs:
            target, model = toy_target(inputs["toy"], config.params, run.file(TOY_WEIGHTS))
        else:
            model = inputs["model"].load()
            target = token_target(model, config.params, inputs["data"])
        facts = {"toy": inputs["toy"].toy} if "toy" in inputs else {}
        run.update(model=describe_model(model, **facts))
        result = decompose(target, config, run, resume=resume)
        if "toy" in inputs:
            write_toy_report(run, inputs["toy"], model, target, result)
        else:
            write_text_report(run, result)
        run.finish()
    metrics = run.manifest["metrics"]
    print(
        f"held-out reconstruction loss {metrics['reconstruction_loss']:.4f} "
        f"(dead subnetworks {metrics['dead_subnetworks']}/{config.n_subnetworks})"
    )
    print(f"wrote {run.path}")
    return 0


def execute_members(configs, inputs, outs, *, overwrite=False) -> int:
    """Several toy runs (configs differing in their seed) fitted together, a folder each."""
    from contextlib import ExitStack

    from mechcirc.analyses.l3d import decompose_members, toy_targets
    from mechcirc.analyses.l3d.reports import write_toy_report
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder, prepare_out_dir

    outs = [prepare_out_dir(out, overwrite=overwrite) for out in outs]  # all before any work
    with ExitStack() as stack:
        runs = [
            stack.enter_context(
                RunFolder.create(
                    out,
                    command=COMMAND,
                    config=config.to_dict(),
                    inputs={"toy": item.to_dict()},
                    seed=config.seed,
                    overwrite=overwrite,
                )
            )
            for config, item, out in zip(configs, inputs, outs, strict=True)
        ]
        weights = [run.file(TOY_WEIGHTS) for run in runs]
        built = toy_targets(inputs, configs[0].params, weights)
        for run, item, (_, model) in zip(runs, inputs, built, strict=True):
            run.update(model=describe_model(model, toy=item.toy))
        targets = [target for target, _ in built]
        results = decompose_members(targets, configs, runs)
        for run, item, (target, model), result in zip(runs, inputs, built, results, strict=True):
            write_toy_report(run, item, model, target, result)
        for run in runs:  # done only once every member is (a failure marks them all failed)
            run.finish()
    for run in runs:
        metrics = run.manifest["metrics"]
        print(
            f"{run.path}: held-out reconstruction loss {metrics['reconstruction_loss']:.4f} "
            f"(dead subnetworks {metrics['dead_subnetworks']}/{configs[0].n_subnetworks})"
        )
    return 0


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``l3d`` manifest again into ``out``."""
    from mechcirc.analyses.l3d import L3DConfig, TokenData, ToyInputs
    from mechcirc.models.spec import ModelSpec

    recorded = manifest["inputs"]
    if "toy" in recorded:
        inputs = {"toy": ToyInputs.from_dict(recorded["toy"])}
    else:
        inputs = {
            "model": ModelSpec.from_dict(recorded["model"]),
            "data": TokenData.from_dict(recorded["data"]),
        }
    return execute(L3DConfig.from_dict(manifest["config"]), inputs, out, overwrite=overwrite)
