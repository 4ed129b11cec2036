"""IOI algorithm consistency (Tigges et al. 2024, Fig. 4) at one checkpoint: which heads are name
movers, negative name movers, copy-suppression, S-inhibition, induction and duplicate-token
heads, and how much of the model's IOI performance each class carries.

    python examples/ioi_components.py --quick          # tiny random GPT-2, about a minute
    python examples/ioi_components.py --model pythia-160m --revision step143000 --n 64
    python examples/ioi_components.py --model SmolLM2-135M-Instruct.Q4_1.gguf  # a local GGUF

A random tiny model has no IOI circuit: its roles are empty and its shares 0 (its baselines
are within noise). A trained model (Pythia, SmolLM2) shows the roles the paper describes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from mechcirc import tasks
from mechcirc.analyses.components import IOIComponentsConfig, run_ioi_components


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

        model, config = tiny_model("gpt2", n_layers=3), IOIComponentsConfig.preset("quick")
    else:
        from mechcirc import load_model

        model, config = load_model(args.model, args.revision), IOIComponentsConfig()
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=config.n_prompts if args.quick else args.n)
    result = run_ioi_components(model, pairs, config)

    gap = result.baselines
    print(f"logit diff: clean {gap.clean:.4f}, corrupted {gap.corrupted:.4f}")
    direct = result.effects["direct_effect"]
    order = direct.flatten().argsort()[:3].tolist()
    n_heads = direct.shape[1]
    for index in order:
        layer, head = divmod(index, n_heads)
        print(f"direct effect a{layer}.h{head}: {float(direct[layer, head]):+.4f}")
    for role, heads in result.roles.items():
        print(f"{role}: {', '.join(f'a{lay}.h{h}' for lay, h in heads) or '-'}")
    print(result.consistency_frame().to_string(index=False))
    return result


if __name__ == "__main__":
    main()
