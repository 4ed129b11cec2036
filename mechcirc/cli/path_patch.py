"""``mechcirc path-patch``: path patching from sender heads to receiver inputs or logits."""

from __future__ import annotations

import argparse

from mechcirc.cli.common import add_model_args, add_out_args, comma_list, positive_int


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
    parser.add_argument("--batch-size", type=positive_int, default=16)
    add_out_args(parser, "runs/path-patch-MODEL-TASK-REVISION-TIME")
    parser.set_defaults(run=_run)


def _receivers(args, model, pairs) -> list[str]:
    if args.receivers is not None:
        return list(comma_list(args.receivers))
    if args.name_movers != "auto":
        return [f"{head}<q>" for head in comma_list(args.name_movers)]
    from mechcirc.analyses.heads import name_mover_scores

    ranked = name_mover_scores(model, pairs)["name_mover"].top(
        model.cfg.n_layers * model.cfg.n_heads
    )
    # Layer-0 heads have no upstream senders, so they cannot be receivers.
    movers = [(layer, head) for layer, head, _ in ranked if layer > 0][: args.n_name_movers]
    return [f"a{layer}.h{head}<q>" for layer, head in movers]


def _run(args: argparse.Namespace) -> int:
    from mechcirc.cli.common import load_model_from_args
    from mechcirc.errors import UsageError
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder, default_run_dir, prepare_out_dir
    from mechcirc.tasks import load_pairs, prompt_pair_task

    if (args.receivers is None) == (args.name_movers is None):
        raise UsageError("give exactly one of --receivers or --name-movers")
    prompt_pair_task(args.task)
    out = args.out or default_run_dir("path-patch", args.model, args.task, args.revision)
    prepare_out_dir(out, overwrite=args.overwrite)
    config = {k: v for k, v in vars(args).items() if k not in ("run", "overwrite", "out")}
    with RunFolder.create(
        out, command="path-patch", config=config, seed=args.seed, overwrite=args.overwrite
    ) as run:
        model = load_model_from_args(args)
        run.update(model=describe_model(model))
        pairs = load_pairs(args.task, model.tokenizer, n=args.n, seed=args.seed)
        receivers = _receivers(args, model, pairs)
        senders = None if args.senders == "all" else comma_list(args.senders)
        run.update(config={"receivers": receivers, "senders": senders or "all"})
        return _patch_and_write(run, args, model, pairs, senders, receivers)


def _patch_and_write(run, args, model, pairs, senders, receivers) -> int:
    from mechcirc.analyses.path_patching import path_patch
    from mechcirc.views import save_heatmap

    result = path_patch(
        model,
        pairs,
        senders,
        receivers,
        freeze_mlps=not args.no_freeze_mlps,
        batch_size=args.batch_size,
        progress=True,
    )
    frame = result.to_frame()
    frame.to_csv(run.file("path_patch.csv"), index=False)
    run.save_table("path_patch.parquet", frame)
    grid = result.as_grid(model.cfg.n_layers, model.cfg.n_heads)
    run.save_tensors("path_patch.safetensors", {"effect": grid})
    for path in save_heatmap(grid, run.path / "path_patch_effect", title="path-patching effect"):
        run.file(path.name)
    strongest = frame.sort_values("effect").head(5)
    run.finish(
        metrics={
            "clean_metric": result.clean_metric,
            "corrupted_metric": result.corrupted_metric,
            "strongest_senders": strongest[["sender", "effect"]].values.tolist(),
        }
    )
    print(f"path patching -> {', '.join(receivers)} written to {run.path}")
    print(f"  clean {result.clean_metric:.4f}  corrupted {result.corrupted_metric:.4f}")
    for row in strongest.itertuples():
        print(f"  {row.sender:<8} effect {row.effect:+.4f}  ({row.normalized_effect:+.1%})")
    return 0
