"""Attention-head functional scores of a model, as a table and heatmaps.

    python examples/heads_scores.py --quick            # tiny random GPT-NeoX, seconds
    python examples/heads_scores.py --model pythia-160m --revision step143000 --out runs/heads

Scores: induction, previous-token and duplicate-token (attention on repeated random tokens),
copy and successor (OV circuits). Add CSPA with --cspa (slower: two forwards per head).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.analyses.heads import (
    RepeatedTokens,
    attention_scores,
    copy_scores,
    cspa_scores,
    scores_frame,
    successor_scores,
)
from mechcirc.views import save_heatmap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny random model, small data")
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--cspa", action="store_true", help="also compute CSPA scores")
    parser.add_argument("--out", default="runs/example-heads")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.quick:
        from mechcirc.models.tiny import tiny_model

        model, data = tiny_model("gpt-neox"), RepeatedTokens(half_len=8, n_sequences=8)
    else:
        from mechcirc import load_model

        model, data = load_model(args.model, args.revision), RepeatedTokens()

    scores = list(attention_scores(model, data).values())
    scores += [copy_scores(model), successor_scores(model)]
    if args.cspa:
        scores.append(cspa_scores(model, data=data))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scores_frame(scores).to_csv(out / "head_scores.csv", index=False)
    for score in scores:
        save_heatmap(score.values, out / score.name, title=f"{score.name} score")
        top = ", ".join(f"L{layer}H{head} {value:.2f}" for layer, head, value in score.top(3))
        print(f"{score.name:<16} top heads: {top}")
    print(f"table and heatmaps in {out}")


if __name__ == "__main__":
    main()
