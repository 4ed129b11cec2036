"""``mechcirc heads``: attention-head functional scores of a model, as a table and heatmaps."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mechcirc.cli.common import add_model_args, add_out_args, positive_int

DEFAULT_SCORES = "induction,previous_token,duplicate_token,copy,successor"
SIGNED_SCORES = ("cspa", "name_mover")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "heads",
        help="attention-head scores: induction, previous/duplicate token, copy, successor, "
        "CSPA copy suppression, IOI name movers",
    )
    add_model_args(parser)
    parser.add_argument(
        "--scores",
        default=DEFAULT_SCORES,
        help="comma-separated: induction, previous_token, duplicate_token, copy, successor, "
        f"cspa, name_mover, or all (default {DEFAULT_SCORES})",
    )
    add_out_args(parser, "runs/heads-MODEL-REVISION-TIME")
    parser.add_argument(
        "--seq-len", type=positive_int, default=20, help="half length of the repeated sequences"
    )
    parser.add_argument(
        "--n-sequences", type=positive_int, default=32, help="repeated random-token sequences"
    )
    parser.add_argument(
        "--ioi-prompts", type=positive_int, default=64, help="IOI prompts for name_mover"
    )
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tokens and IOI")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mechcirc.analyses.heads import parse_score_names

    names = parse_score_names(args.scores)  # fail on a typo before loading anything

    from mechcirc.analyses.heads import RepeatedTokens, compute_head_scores
    from mechcirc.cli.common import load_model_from_args
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder, default_run_dir, prepare_out_dir
    from mechcirc.tasks import load_pairs

    out = args.out or default_run_dir("heads", args.model, args.revision)
    prepare_out_dir(out, overwrite=args.overwrite)
    config = {k: v for k, v in vars(args).items() if k not in ("run", "overwrite", "out")}
    config["scores"] = names
    with RunFolder.create(
        out, command="heads", config=config, seed=args.seed, overwrite=args.overwrite
    ) as run:
        model = load_model_from_args(args)
        run.update(model=describe_model(model))
        data = RepeatedTokens(half_len=args.seq_len, n_sequences=args.n_sequences, seed=args.seed)
        pairs = None
        if "name_mover" in names:
            pairs = load_pairs("ioi", model.tokenizer, n=args.ioi_prompts, seed=args.seed)
        scores = compute_head_scores(
            model, names, data=data, pairs=pairs, batch_size=args.batch_size, progress=True
        )
        top = write_head_tables(run, "head_scores", scores)
        run.finish(metrics={"top_heads": top})
    print(f"head scores of {args.model} written to {run.path}")
    for name, heads in top.items():
        listed = ", ".join(f"{head} {value:.3f}" for head, value in heads)
        print(f"  {name:<16} {listed}")
    return 0


def write_head_tables(run, stem: str, scores: Sequence, top_k: int = 3) -> dict[str, list]:
    """Save ``scores`` (``HeadScore``s) as ``stem.csv/.parquet/.safetensors``, their input data
    as ``stem_inputs.safetensors``, their configs as ``stem_config.json`` and a PNG + SVG heatmap
    each under ``heatmaps/``; return the ``top_k`` heads of each score as
    ``{name: [["a1.h0", value], ...]}``."""
    from mechcirc.analyses.heads import scores_frame
    from mechcirc.views import save_heatmap

    frame = scores_frame(scores)
    frame.to_csv(run.file(f"{stem}.csv"), index=False)
    run.save_table(f"{stem}.parquet", frame)
    run.save_tensors(f"{stem}.safetensors", {s.name: s.values for s in scores})
    inputs, seen = {}, set()
    for score in scores:
        for key, tensor in score.inputs.items():
            if id(tensor) not in seen:
                seen.add(id(tensor))
                inputs[f"{score.name}.{key}"] = tensor
    run.save_tensors(f"{stem}_inputs.safetensors", inputs)
    for score in scores:
        # Fractions and attention masses share one 0..1 colour scale; the others are signed.
        limits = None if score.name in SIGNED_SCORES else (0.0, 1.0)
        heatmap = run.path / "heatmaps" / score.name
        heatmap.parent.mkdir(parents=True, exist_ok=True)
        for path in save_heatmap(score.values, heatmap, title=score.name, limits=limits):
            run.file(f"heatmaps/{path.name}")
    run.save_json(f"{stem}_config.json", {s.name: s.config for s in scores})
    return {s.name: [[f"a{lay}.h{h}", v] for lay, h, v in s.top(top_k)] for s in scores}
