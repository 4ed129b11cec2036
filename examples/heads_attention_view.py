"""Write an offline HTML page of circuitsvis attention views (one per prompt).

    python examples/heads_attention_view.py --quick --out attention.html
    python examples/heads_attention_view.py --model pythia-160m --layer 4 --out attention.html

The page inlines circuitsvis's JavaScript once and loads nothing from the network.
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.views import attention_views, write_attention_page

PROMPTS = [
    "When Mary and John went to the store, John gave a drink to",
    "The cat sat on the mat. The cat sat on the mat.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny random model")
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--layer", type=int, default=None, help="only this layer's heads")
    parser.add_argument("--out", default="attention.html")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.quick:
        from mechcirc.models.tiny import tiny_model

        model = tiny_model("gpt-neox")
    else:
        from mechcirc import load_model

        model = load_model(args.model, args.revision)
    views = attention_views(model, PROMPTS, layer=args.layer)
    path = write_attention_page(args.out, views, title="Attention patterns")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(views)} views)")


if __name__ == "__main__":
    main()
