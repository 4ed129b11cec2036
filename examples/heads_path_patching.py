"""Find name movers on IOI, then path-patch every earlier head into their queries.

    python examples/heads_path_patching.py --quick      # tiny random GPT-2, seconds
    python examples/heads_path_patching.py --model pythia-160m --revision step143000

This is Tigges et al.'s S-inhibition check: heads whose path into the name movers' queries
carries the IOI corruption (S2 -> a third name) are S-inhibition candidates.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from mechcirc import tasks
from mechcirc.analyses.heads import name_mover_scores
from mechcirc.analyses.path_patching import PathPatchConfig, path_patch


def main(argv: Sequence[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny random model, few prompts")
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--n", type=int, default=64, help="IOI prompt pairs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    if args.quick:
        from mechcirc.models.tiny import tiny_model

        model, n = tiny_model("gpt2", n_layers=3), 8
    else:
        from mechcirc import load_model

        model, n = load_model(args.model, args.revision), args.n

    pairs = tasks.load_pairs("ioi", model.tokenizer, n=n, seed=0)
    scores = name_mover_scores(model, pairs.clean, pairs.positions)
    # Name movers: highest attention to IO over S1 and S2 from the end, outside layer 0.
    ranked = scores["name_mover"].top(model.cfg.n_heads * 2)
    movers = [f"a{layer}.h{head}" for layer, head, _ in ranked if layer > 0][:2]
    print("name movers:", ", ".join(movers))

    config = PathPatchConfig(receivers=tuple(f"{m}<q>" for m in movers))
    result = path_patch(model, pairs, config)
    print(f"logit diff clean {result.clean_metric:.3f}, corrupted {result.corrupted_metric:.3f}")
    print(result.to_frame().sort_values("effect").head(5).to_string(index=False))
    return result


if __name__ == "__main__":
    main()
