"""``mechcirc heads``: attention-head functional scores of a model, as a table and heatmaps.

The flags map onto :class:`~mechcirc.analyses.heads.HeadScoresConfig` and a
:class:`~mechcirc.models.spec.ModelSpec`; the work is
:func:`~mechcirc.analyses.heads.head_scores`. Flags, ``--seq-len`` against the model's context
(read from its config, no weights) and ``--out`` are checked before the model loads.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechcirc.cli.common import (
    TEXT_HELP,
    add_model_args,
    add_out_args,
    finite_float,
    model_run,
    positive_int,
    recorded_inputs,
)

__all__ = [
    "COMMAND",
    "DEFAULT_SCORES",
    "check_before_loading",
    "config_from_args",
    "execute",
    "register",
    "rerun",
]

COMMAND = "heads"
DEFAULT_SCORES = "induction,previous_token,duplicate_token,copy,successor"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "heads",
        help="attention-head scores: induction, previous/duplicate token, copy (weights, "
        "in-context, negative), successor, CSPA copy suppression, IOI name-mover attention",
    )
    add_model_args(parser)
    parser.add_argument(
        "--scores",
        default=DEFAULT_SCORES,
        help="comma-separated: induction, previous_token, duplicate_token, copy, context_copy, "
        "negative_copy, successor, cspa, cspa_ov, name_mover, or all "
        f"(default {DEFAULT_SCORES})",
    )
    add_out_args(parser, "runs/heads-MODEL-REVISION-TIME")
    parser.add_argument(
        "--seq-len", type=positive_int, default=20, help="half length of the repeated sequences"
    )
    parser.add_argument(
        "--n-sequences", type=positive_int, default=32, help="repeated random-token sequences"
    )
    parser.add_argument(
        "--ioi-prompts",
        type=positive_int,
        default=64,
        help="IOI prompts for context_copy, negative_copy, name_mover",
    )
    parser.add_argument(
        "--successor-definition",
        default="gould",
        choices=["gould", "layer0"],
        help="gould: MLP0(W_E) through W_OV and W_U (default); layer0: earlier variant",
    )
    parser.add_argument("--text", default=None, help=TEXT_HELP)
    parser.add_argument("--cspa-sequences", type=positive_int, default=17)
    parser.add_argument("--cspa-seq-len", type=positive_int, default=61)
    parser.add_argument("--cspa-fraction", type=finite_float, default=0.05)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tokens and IOI")
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The :class:`HeadScoresConfig` the flags describe (values checked here)."""
    from mechcirc.analyses.heads import HeadScoresConfig

    return HeadScoresConfig(
        scores=HeadScoresConfig.parse_scores(args.scores),
        half_len=args.seq_len,
        n_sequences=args.n_sequences,
        ioi_prompts=args.ioi_prompts,
        successor_definition=args.successor_definition,
        cspa_seq_len=args.cspa_seq_len,
        cspa_sequences=args.cspa_sequences,
        cspa_fraction=args.cspa_fraction,
        text=args.text,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def check_before_loading(config, model_spec) -> None:
    """Refuse requests the model cannot take, from its config alone (no weights load):
    sequences longer than its context; a missing ``--text`` file."""
    from mechcirc.models.shape import check_positions, model_shape

    if config.text is not None and not Path(config.text).is_file():
        raise FileNotFoundError(2, "No such file or directory", config.text)
    shape = model_shape(model_spec.name, model_spec.revision)
    needed = config.positions_needed(bos=True)
    check_positions(shape, needed, f"--seq-len {config.half_len} (up to {needed} positions)")


def _run(args: argparse.Namespace) -> int:
    from mechcirc.cli.common import model_spec_from_args
    from mechcirc.runs import default_run_dir

    config = config_from_args(args)
    inputs = {"model": model_spec_from_args(args)}
    out = args.out or default_run_dir("heads", args.model, args.revision)
    return execute(config, inputs, out, overwrite=args.overwrite)


def execute(config, inputs: dict[str, Any], out: str | Path, *, overwrite: bool = False) -> int:
    """Run ``mechcirc heads`` from its config and inputs into ``out`` (also ``rerun``)."""
    from mechcirc.analyses.heads import head_scores
    from mechcirc.runs import prepare_out_dir

    model_spec = inputs["model"]
    check_before_loading(config, model_spec)
    prepare_out_dir(out, overwrite=overwrite)
    opened = model_run(out, COMMAND, config, inputs, seed=config.seed, overwrite=overwrite)
    with opened as (run, model):
        result = head_scores(model, config, run, progress=True)
        run.finish()
    print(f"head scores of {model_spec.name} written to {run.path}")
    for name, heads in result.top().items():
        listed = ", ".join(f"{head} {value:.3f}" for head, value in heads)
        print(f"  {name:<16} {listed}")
    return 0


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``heads`` manifest again into ``out``."""
    from mechcirc.analyses.heads import HeadScoresConfig

    config = HeadScoresConfig.from_dict(manifest["config"])
    return execute(config, recorded_inputs(manifest), out, overwrite=overwrite)
