"""``mechcirc l3d``: decompose a model's or toy's per-sample gradients into sparse subnetworks.

Writes into ``--out``: ``subnetworks.safetensors`` (dense V_out / V_in per parameter),
``metrics.parquet`` (training log), ``top_samples.json``, ``impact.safetensors``,
``interventions.parquet`` + ``.png`` + ``.svg``, ``checkpoint.safetensors`` (resume with
``--resume``), ``toy_model.safetensors`` for toys, and ``manifest.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mechcirc.cli.common import add_model_args, comma_list, load_model_from_args, positive_int
from mechcirc.errors import UsageError

CHECKPOINT = "checkpoint.safetensors"
TOY_WEIGHTS = "toy_model.safetensors"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}") from err
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {value}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "l3d",
        help="L3D: sparse low-rank subnetworks of per-sample gradients, with interventions",
        description="Local loss-landscape decomposition (Chrisman et al. 2025) over the "
        "parameters matching --params, of a model (--model) or a built-in toy (--toy).",
    )
    parser.add_argument(
        "--toy", help="tms | circuit-superposition | squares (trained first); or --model"
    )
    add_model_args(parser, required=False)
    parser.add_argument(
        "--params",
        default=None,
        help="fnmatch pattern(s), comma-separated "
        "(e.g. 'blocks.0.attn.*'); default '*' for toys, required for --model",
    )
    fit = parser.add_argument_group("decomposition (defaults: the toy's paper settings)")
    fit.add_argument("--n-subnetworks", type=positive_int, default=None)
    fit.add_argument("--rank", type=positive_int, default=None, help="Tucker rank per tensor")
    fit.add_argument("--topk", type=_fraction, default=None, help="fraction of activations kept")
    fit.add_argument("--steps", type=positive_int, default=2000)
    fit.add_argument("--batch-size", type=positive_int, default=256)
    fit.add_argument("--lr", type=float, default=1e-2)
    fit.add_argument("--lr-decay", type=float, default=0.5)
    fit.add_argument("--lr-decay-every", type=int, default=0, help="0: decay at 50%% and 75%%")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--toy-steps", type=positive_int, default=5000, help="toy training steps")
    data = parser.add_argument_group("language-model data (default: random tokens)")
    data.add_argument("--task", help="prompt-pair task name or EAP-IG CSV: clean prompts")
    data.add_argument("--text", help="plain-text file cut into --seq-len windows")
    data.add_argument("--n-sequences", type=positive_int, default=512)
    data.add_argument("--seq-len", type=positive_int, default=16)
    out = parser.add_argument_group("evaluation and output")
    out.add_argument("--n-eval", type=positive_int, default=1024, help="held-out samples")
    out.add_argument("--n-references", type=positive_int, default=4, help="for impacts")
    out.add_argument(
        "--deltas",
        type=lambda text: comma_list(text, float, "numbers"),
        default=None,
        help="intervention sizes",
    )
    out.add_argument("--top", type=positive_int, default=10, help="top samples per subnetwork")
    out.add_argument("--out", help="run folder (default runs/l3d-...)")
    out.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    out.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty --out"
    )
    out.add_argument("--checkpoint-every", type=positive_int, default=100)
    parser.set_defaults(run=_run)


def _config(args: argparse.Namespace, spec):
    from mechcirc.analyses.l3d.training import L3DConfig

    def pick(value, toy_default, default):
        return value if value is not None else (toy_default if spec else default)

    return L3DConfig(
        n_subnetworks=pick(args.n_subnetworks, spec and spec.n_subnetworks, 16),
        rank=pick(args.rank, spec and spec.rank, 1),
        topk=pick(args.topk, spec and spec.topk, 0.1),
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        lr_decay_every=args.lr_decay_every,
        seed=args.seed,
    )


def _out_dir(args: argparse.Namespace) -> Path:
    from mechcirc.runs import default_run_dir, prepare_out_dir

    out = Path(args.out) if args.out else default_run_dir("l3d", args.toy or args.model)
    prepare_out_dir(out, overwrite=args.overwrite, resume=args.resume, can_resume=True)
    if args.resume and not (out / CHECKPOINT).is_file():
        raise UsageError(f"--resume: no {CHECKPOINT} in {out}")
    return out


def _model_target(args: argparse.Namespace):
    from mechcirc.analyses.l3d import builders

    model = load_model_from_args(args)
    if args.task:
        data = builders.task_tokens(model, args.task, args.n_sequences, args.seed)
    elif args.text:
        data = builders.text_tokens(model, args.text, args.n_sequences, args.seq_len)
    else:
        data = builders.random_tokens(model, args.n_sequences, args.seq_len, args.seed)
    source = getattr(model, "mechcirc_source", None)
    info = source.to_dict() if source else {"model_id": args.model}
    return builders.token_target(model, args.params, data), model, info


def _toy_target(args: argparse.Namespace, spec, out: Path):
    from mechcirc.analyses.l3d.builders import toy_target

    weights = out / TOY_WEIGHTS  # trained once; a resumed run loads it
    target, model = toy_target(args.toy, args.params or "*", args.seed, args.toy_steps, weights)
    info = {"toy": args.toy, "description": spec.description, "toy_steps": args.toy_steps}
    return target, model, info


def _check_sources(args: argparse.Namespace) -> None:
    """Usage errors that need no model, raised before anything is written."""
    if bool(args.toy) == bool(args.model):
        raise UsageError("give --toy NAME or --model NAME (one of them)")
    if args.model and not args.params:
        raise UsageError("--model needs --params, e.g. --params 'blocks.0.attn.*'")
    if args.task and args.text:
        raise UsageError("give --task or --text, not both")


def _run(args: argparse.Namespace) -> int:
    from mechcirc.analyses.l3d.checkpoint import check_resumable
    from mechcirc.analyses.l3d.toys import get_toy
    from mechcirc.runs import RunFolder

    _check_sources(args)
    spec = get_toy(args.toy) if args.toy else None
    config = _config(args, spec)
    out = _out_dir(args)
    if args.resume:
        check_resumable(out / CHECKPOINT, config)
    with RunFolder.create(
        out,
        command="l3d",
        config={**config.to_dict(), **_extra(args)},
        seed=args.seed,
        overwrite=args.overwrite,
        resume=args.resume,
    ) as run:
        return _decompose(run, args, spec, config, out)


def _decompose(run, args: argparse.Namespace, spec, config, out: Path) -> int:
    from mechcirc.analyses.l3d import pipeline
    from mechcirc.analyses.l3d.toy_metrics import toy_summary

    target, model, info = _toy_target(args, spec, out) if spec else _model_target(args)
    run.update(model=info)
    if spec:
        run.file(TOY_WEIGHTS)
    state = pipeline.decompose(
        target,
        config,
        checkpoint=run.file(CHECKPOINT),
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
    )
    evaluation = pipeline.evaluate(
        target,
        state.subnetworks,
        config,
        n_eval=args.n_eval,
        n_references=args.n_references,
        deltas=args.deltas,
    )
    metrics = pipeline.write_report(run, target, state, evaluation, n_top=args.top)
    if spec:
        metrics.update(
            toy_summary(args.toy, model, state.subnetworks, evaluation.inputs, evaluation.impact)
        )
        metrics["paper_reconstruction_loss"] = spec.paper_loss
    run.finish(metrics=metrics)
    print(
        f"reconstruction loss {metrics['reconstruction_loss']:.4f} "
        f"(dead subnetworks {metrics['dead_subnetworks']}/{config.n_subnetworks})"
    )
    print(f"wrote {run.path}")
    return 0


def _extra(args: argparse.Namespace) -> dict:
    keys = (
        "params",
        "toy",
        "task",
        "text",
        "n_sequences",
        "seq_len",
        "n_eval",
        "n_references",
        "deltas",
        "resume",
    )
    return {key: getattr(args, key) for key in keys}
