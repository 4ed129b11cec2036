"""``mechcirc view attention``: an offline HTML page of circuitsvis attention views."""

from __future__ import annotations

import argparse

from mechcirc.cli.common import add_model_args

__all__ = ["register"]


def register(subparsers) -> None:
    view = subparsers.add_parser("view", help="visualisations written as offline HTML")
    sub = view.add_subparsers(dest="view_command", metavar="VIEW", required=True)
    attention = sub.add_parser(
        "attention", help="attention patterns of heads on prompts (self-contained HTML)"
    )
    add_model_args(attention)
    attention.add_argument(
        "--prompt", action="append", required=True, help="a prompt (repeat for several)"
    )
    attention.add_argument("--layer", type=int, default=None, help="only this layer's heads")
    attention.add_argument("--head", type=int, default=None, help="only this head (per layer)")
    attention.add_argument("--out", required=True, help="HTML file to write")
    attention.add_argument(
        "--overwrite", action="store_true", help="replace an existing page and its run folder"
    )
    attention.set_defaults(run=_attention)


def _attention(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mechcirc.cli.common import load_model_from_args
    from mechcirc.errors import UsageError
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder, prepare_out_dir
    from mechcirc.views import attention_views, select_heads, write_attention_page

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out must name an .html file, got {args.out!r}")
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out} exists: choose a new file, or pass --overwrite")
    # The page is the output; its manifest sits beside it in <stem>-run/.
    run_dir = prepare_out_dir(out.with_name(f"{out.stem}-run"), overwrite=args.overwrite)
    config = {k: v for k, v in vars(args).items() if k not in ("run", "overwrite")}
    with RunFolder.create(
        run_dir, command="view attention", config=config, overwrite=args.overwrite
    ) as run:
        model = load_model_from_args(args)
        run.update(model=describe_model(model))
        heads = select_heads(model, args.layer, args.head)
        run.update(config={"heads": [f"a{lay}.h{h}" for lay, h in heads]})
        views = attention_views(model, args.prompt, heads)
        write_attention_page(out, views, title=f"Attention: {args.model}")
        run.finish(page=str(out.resolve()))
    print(f"{len(views)} attention view(s) of {len(heads)} head(s) written to {out}")
    return 0
