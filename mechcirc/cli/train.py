"""``mechcirc train cross-attention|grokking --out DIR``: train a toy model, resumably.

The run folder gets ``manifest.json``, ``checkpoint.safetensors`` (weights, optimiser state,
step), ``metrics.parquet`` and ``accuracy.png``/``.svg``. ``--resume`` continues from the
checkpoint in ``--out`` up to ``--steps`` total steps.
"""

from __future__ import annotations

import argparse

from mechcirc.cli.common import positive_int

# model -> the task, optimiser and defaults of its paper
DEFAULTS = {
    "cross-attention": {
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "beta2": 0.999,
        "p": 4,
        "steps": 1000,
    },
    "grokking": {
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1.0,
        "beta2": 0.98,
        "p": 113,
        "steps": 3000,
    },
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a toy model (cross-attention curriculum model, grokking model)",
        description="Full-batch (or --batch-size) training with checkpoints and a metrics log.",
    )
    parser.add_argument("model", choices=sorted(DEFAULTS), help="which toy model")
    parser.add_argument("--out", required=True, help="run folder (created; holds the checkpoint)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty --out"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --out"
    )
    parser.add_argument("--steps", type=positive_int, help="total steps (default per model)")
    parser.add_argument(
        "--p", type=positive_int, help="modulus: 4 (cross-attention), 113 (grokking)"
    )
    parser.add_argument("--train-fraction", type=float, default=0.3, help="grokking: share of P^2")
    parser.add_argument("--seq-len", type=positive_int, default=12, help="cross-attention: T")
    parser.add_argument("--k", type=positive_int, default=5, help="cross-attention: summed tokens")
    parser.add_argument("--n-train", type=positive_int, default=2048, help="cross-attention data")
    parser.add_argument("--d-model", type=positive_int, default=32, help="cross-attention width")
    parser.add_argument(
        "--mlp-residual",
        choices=["z_A", "normed"],
        default="z_A",
        help="cross-attention: the MLP residual adds z_A (authors' code, default) or RMS(z_A)",
    )
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--optimizer", choices=["adam", "adamw"])
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default: full batch")
    parser.add_argument("--eval-every", type=positive_int, default=100)
    parser.add_argument("--checkpoint-every", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=_run)


def build_job(args: argparse.Namespace):
    """The model, data, train config and logits function the flags describe."""
    from mechcirc.tasks import MODULAR_ADDITION, SPARSE_MODULAR_ADDITION
    from mechcirc.toys import (
        CrossAttentionConfig,
        HookedCrossAttention,
        grokking_model,
        last_position_logits,
    )
    from mechcirc.training import TrainConfig, default_logits

    defaults = DEFAULTS[args.model]
    p = args.p or defaults["p"]
    if args.model == "grokking":
        data = MODULAR_ADDITION.build(p, args.train_fraction, args.seed)
        model, logits_fn = grokking_model(p, seed=args.seed), last_position_logits
    else:
        data = SPARSE_MODULAR_ADDITION.build(
            p=p,
            seq_len=args.seq_len,
            k=args.k,
            n_train=args.n_train,
            n_test=args.n_train,
            seed=args.seed,
        )
        shape = CrossAttentionConfig(
            d_vocab=p,
            n_ctx=args.seq_len,
            d_model=args.d_model,
            mlp_residual=args.mlp_residual,
            seed=args.seed,
        )
        model, logits_fn = HookedCrossAttention(shape), default_logits
    config = TrainConfig(
        steps=args.steps or defaults["steps"],
        lr=args.lr or defaults["lr"],
        optimizer=args.optimizer or defaults["optimizer"],
        weight_decay=defaults["weight_decay"] if args.weight_decay is None else args.weight_decay,
        betas=(0.9, defaults["beta2"]),
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        progress=not args.no_progress,
    )
    return model, data, config, logits_fn


def _run(args: argparse.Namespace) -> int:

    import torch

    from mechcirc.analyses.training import figures
    from mechcirc.errors import UsageError
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder, prepare_out_dir
    from mechcirc.training import CHECKPOINT_FILE, Trainer

    torch.set_num_threads(1)
    out = prepare_out_dir(args.out, overwrite=args.overwrite, resume=args.resume, can_resume=True)
    if args.resume and not (out / CHECKPOINT_FILE).is_file():
        raise UsageError(f"--resume: no {CHECKPOINT_FILE} in {out}; train without --resume first")
    model, data, config, logits_fn = build_job(args)
    settings = {k: v for k, v in vars(args).items() if k not in ("run", "overwrite")}
    with RunFolder.create(
        out,
        command=f"train {args.model}",
        config={**settings, "train": config.to_dict(), "data": data.meta},
        seed=args.seed,
        model=describe_model(model, toy=args.model),
        overwrite=args.overwrite,
        resume=args.resume,
    ) as run:
        trainer = Trainer(model, data, config, logits_fn=logits_fn, out_dir=out)
        if args.resume:
            trainer.load_checkpoint(out)
        metrics = trainer.fit()
        for name in (CHECKPOINT_FILE, "metrics.parquet"):  # written by the trainer
            run.file(name)
        fig = figures.accuracy_curves(
            metrics.assign(run=args.model), group="run", title=f"{args.model}: {data.meta['task']}"
        )
        figures.save_figure(fig, run, "accuracy")
        final = metrics.iloc[-1].to_dict()
        run.finish(metrics=final)
    print(" ".join(f"{k}={v:.4g}" for k, v in final.items()))
    print(f"wrote {out}")
    return 0
