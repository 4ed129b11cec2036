"""``mechcirc view attention``: an offline HTML page of circuitsvis attention views."""

from __future__ import annotations

import argparse

from mechcirc.cli.common import add_model_args


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
    attention.set_defaults(run=_attention)


def _attention(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mechcirc.cli.common import load_model_from_args
    from mechcirc.errors import UsageError
    from mechcirc.models.summary import model_summary
    from mechcirc.runs import RunFolder
    from mechcirc.views import attention_views, select_heads, write_attention_page

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out must name an .html file, got {args.out!r}")
    model = load_model_from_args(args)
    heads = select_heads(model, args.layer, args.head)
    config = {**vars(args), "heads": [f"a{lay}.h{h}" for lay, h in heads]}
    config.pop("run", None)
    # The page is the output; its manifest sits beside it in <stem>-run/.
    run = RunFolder.create(
        out.with_name(f"{out.stem}-run"),
        command="view attention",
        config=config,
        model=model_summary(model),
    )
    views = attention_views(model, args.prompt, heads)
    write_attention_page(out, views, title=f"Attention: {args.model}")
    run.finish(page=str(out.resolve()))
    print(f"{len(views)} attention view(s) of {len(heads)} head(s) written to {out}")
    return 0
