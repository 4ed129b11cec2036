"""``mechcirc train cross-attention|grokking --out DIR``: train a toy model, resumably.

The flags override the model's preset (:class:`~mechcirc.analyses.training.jobs.
ToyTrainingConfig`: the papers' settings); every value is checked (``--lr`` must be a finite
number > 0) and ``--resume`` is checked against the checkpoint's data before the run folder is
touched. The run folder gets ``manifest.json``, ``checkpoint.safetensors`` (weights, optimiser
state, step, metrics log), ``metrics.parquet`` and ``accuracy.png``/``.svg``; ``--resume``
continues from the checkpoint in ``--out`` up to ``--steps`` total steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechcirc.cli.common import positive_int

__all__ = ["DATA_FLAGS", "TOYS", "TRAIN_FLAGS", "config_from_args", "execute", "register", "rerun"]

TOYS = ("cross-attention", "grokking")
# flag -> (config field, the toy it applies to, or None for both)
DATA_FLAGS = {
    "p": ("p", None),
    "train_fraction": ("train_fraction", "grokking"),
    "seq_len": ("seq_len", "cross-attention"),
    "k": ("k", "cross-attention"),
    "n_train": ("n_train", "cross-attention"),
    "d_model": ("d_model", "cross-attention"),
    "mlp_residual": ("mlp_residual", "cross-attention"),
}
TRAIN_FLAGS = (
    "steps",
    "lr",
    "weight_decay",
    "optimizer",
    "batch_size",
    "eval_every",
    "checkpoint_every",
    "seed",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a toy model (cross-attention curriculum model, grokking model)",
        description="Full-batch (or --batch-size) training with checkpoints and a metrics log; "
        "defaults are the model's paper settings.",
    )
    parser.add_argument("model", choices=TOYS, help="which toy model")
    parser.add_argument("--out", required=True, help="run folder (created; holds the checkpoint)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty --out"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --out"
    )
    parser.add_argument("--steps", type=positive_int, help="total steps (default per model)")
    parser.add_argument("--p", type=int, help="modulus: 4 (cross-attention), 113 (grokking)")
    parser.add_argument("--train-fraction", type=float, help="grokking: share of P^2 (0.3)")
    parser.add_argument("--seq-len", type=int, help="cross-attention: T (12)")
    parser.add_argument("--k", type=int, help="cross-attention: summed tokens (5)")
    parser.add_argument("--n-train", type=int, help="cross-attention: examples (2048)")
    parser.add_argument("--d-model", type=int, help="cross-attention: width (32)")
    parser.add_argument(
        "--mlp-residual",
        choices=["z_A", "normed"],
        help="cross-attention: the MLP residual adds z_A (authors' code, default) or RMS(z_A)",
    )
    parser.add_argument("--lr", type=float, help="learning rate, a finite number > 0 (1e-3)")
    parser.add_argument("--weight-decay", type=float, help="1.0 (grokking), 0 (cross-attention)")
    parser.add_argument("--optimizer", choices=["adam", "adamw"])
    parser.add_argument("--batch-size", type=int, help="default: full batch")
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--seed", type=int, help="seeds the data, the model and the batches (0)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The :class:`ToyTrainingConfig` the flags describe (values checked here)."""
    from mechcirc.analyses.training.jobs import ToyTrainingConfig
    from mechcirc.errors import UsageError

    config = ToyTrainingConfig.preset(args.model)
    data: dict[str, Any] = {}
    for flag, (field, toy) in DATA_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if toy is not None and toy != args.model:
            raise UsageError(f"--{flag.replace('_', '-')} applies to {toy}, not {args.model}")
        data[field] = value
    train = {flag: getattr(args, flag) for flag in TRAIN_FLAGS if getattr(args, flag) is not None}
    if args.no_progress:
        train["progress"] = False
    return config.replace(**data, train={**config.train.to_dict(), **train})


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    return execute(config, args.out, overwrite=args.overwrite, resume=args.resume)


def execute(config, out: str | Path, *, overwrite: bool = False, resume: bool = False) -> int:
    """Run ``mechcirc train`` from its config into ``out`` (also ``mechcirc rerun``)."""
    import torch

    from mechcirc.analyses.training.jobs import run_training
    from mechcirc.errors import UsageError
    from mechcirc.runs import RunFolder, prepare_out_dir
    from mechcirc.training import CHECKPOINT_FILE, resume_problem

    out = prepare_out_dir(out, overwrite=overwrite, resume=resume, can_resume=True)
    if resume:
        problem = resume_problem(out / CHECKPOINT_FILE, config.data())
        if problem:
            raise UsageError(f"--resume: {problem}")
    torch.set_num_threads(1)
    with RunFolder.create(
        out,
        command=f"train {config.model}",
        config=config.to_dict(),
        inputs={"toy": config.model},
        seed=config.seed,
        overwrite=overwrite,
        resume=resume,
    ) as run:
        final = run_training(config, run, resume=resume).metrics()
        run.finish(metrics=final)
    print(" ".join(f"{k}={v:.4g}" for k, v in final.items()))
    print(f"wrote {out}")
    return 0


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``train`` manifest again into ``out``."""
    from mechcirc.analyses.training.jobs import ToyTrainingConfig

    config = ToyTrainingConfig.from_dict(manifest["config"])
    return execute(config, out, overwrite=overwrite)
