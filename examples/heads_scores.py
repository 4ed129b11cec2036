"""Attention-head functional scores of a model, as a table and heatmaps, via the pipeline.

    python examples/heads_scores.py --quick            # tiny random GPT-NeoX, seconds
    python examples/heads_scores.py --model pythia-160m --revision step143000 --out runs/heads

Scores: induction, previous-token and duplicate-token (attention on repeated random tokens),
copy (OV weights), Tigges et al.'s in-context copy score on IOI prompts, and Gould et al.'s
successor score. Add CSPA (full, on the bundled public-domain text) with --cspa.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from mechcirc.analyses.heads import HeadScoresConfig, head_scores
from mechcirc.runs import RunFolder, prepare_out_dir


def main(argv: Sequence[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny random model, small data")
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--cspa", action="store_true", help="also compute CSPA scores")
    parser.add_argument("--out", default="runs/example-heads")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    scores = ("induction", "previous_token", "duplicate_token", "copy", "context_copy")
    scores += ("successor", "cspa") if args.cspa else ("successor",)
    if args.quick:
        from mechcirc.models.tiny import tiny_model

        model = tiny_model("gpt-neox")
        config = HeadScoresConfig(scores=scores, half_len=8, n_sequences=8, ioi_prompts=8)
    else:
        from mechcirc import load_model

        model, config = load_model(args.model, args.revision), HeadScoresConfig(scores=scores)

    prepare_out_dir(args.out, overwrite=True)
    with RunFolder.create(args.out, command="example-heads", config=config.to_dict()) as run:
        result = head_scores(model, config, run)
        run.finish()
    for name, heads in result.top().items():
        listed = ", ".join(f"{head} {value:.3f}" for head, value in heads)
        print(f"{name:<16} top heads: {listed}")
    print(f"table and heatmaps in {run.path}")
    return result


if __name__ == "__main__":
    main()
