"""Grokking on modular addition, then ungrokking on a smaller training set (Varma et al.).

Trains the paper's one-layer transformer (booted with TransformerBridge.boot_native) with
full-batch AdamW (lr 1e-3, betas (0.9, 0.98), weight decay 1.0), prints when train accuracy
passed 0.99 and when test accuracy passed 0.95, then continues the model on a small subset of
its training data and reports the test accuracy it keeps. Defaults (P=47, half the pairs,
4000 steps) take several minutes on one core; ``--quick`` is a seconds-long smoke run.

Run: ``.venv/bin/python examples/training_grokking.py [--quick]``
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.analyses.training.grokking import GrokkingConfig, train_grokking, transition
from mechcirc.tasks import MODULAR_ADDITION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = GrokkingConfig.quick() if args.quick else GrokkingConfig(p=47, train_fraction=0.5)

    data = MODULAR_ADDITION.build(config.p, config.train_fraction, config.seed)
    model, metrics = train_grokking(config, data, out_dir=None)
    print("grokking:", transition(metrics))

    small = data.train_subset(max(1, data.n_train // 5), seed=0)
    _, continued = train_grokking(config, small, out_dir=None, steps=config.steps // 2, model=model)
    print(
        f"ungrokking on {small.n_train} pairs: test accuracy "
        f"{continued['test_acc'].iloc[0]:.3f} -> {continued['test_acc'].iloc[-1]:.3f}"
    )

    _, cache = model.run_with_cache(
        data.test_inputs[:4], names_filter=lambda name: name == "blocks.0.attn.hook_pattern"
    )
    print("attention pattern of the '=' token:", cache["blocks.0.attn.hook_pattern"][0, :, -1])


if __name__ == "__main__":
    main()
