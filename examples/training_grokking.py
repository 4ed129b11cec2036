"""Grokking on modular addition, its circuits over training, then ungrokking (Varma et al.).

Trains the paper's one-layer transformer (booted with TransformerBridge.boot_native) with
full-batch AdamW (lr 1e-3, betas (0.9, 0.98), weight decay 1.0), prints when train accuracy
passed 0.99 and when test accuracy passed 0.95, the Fourier proxies of the generalising and
memorising circuits at the end (key frequencies of the final model), then continues the model
on a small subset of its training data and prints the test accuracy it keeps. Nothing is
written to disk. Default: preset ``p47`` (P = 47, half the pairs, 4000 steps; a few minutes on
one core); ``--quick`` is a seconds-long smoke run; the paper's scale (P = 113) is
``mechcirc experiment grokking --out DIR``.

Run: ``.venv/bin/python examples/training_grokking.py [--quick]``
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.analyses.training import GrokkingConfig, run_grokking
from mechcirc.analyses.training.grokking import train_grokking


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = GrokkingConfig.preset("quick" if args.quick else "p47")

    result = run_grokking(config)  # no run folder: nothing touches the disk
    summary = result.summary
    print(f"train pairs: {summary['n_train']}")
    print(f"train accuracy >= 0.99 at step: {summary['step_train_acc_0.99']}")
    print(f"test accuracy > 0.95 at step: {summary['step_test_acc_0.95']}")
    print(f"final test accuracy: {summary['final_test_acc']:.4f}")
    print(f"key frequencies: {result.key_frequencies}")
    print(f"final C_gen: {summary['final_c_gen']:.4f}")
    print(f"final C_mem: {summary['final_c_mem']:.4f}")

    small = result.data.train_subset(max(1, result.data.n_train // 5), seed=0)
    _, continued = train_grokking(config, small, model=result.model, steps=config.steps // 2)
    print(f"ungrokking subset: {small.n_train}")
    print(f"test accuracy after ungrokking: {continued['test_acc'].iloc[-1]:.4f}")

    _, cache = result.model.run_with_cache(
        result.data.test_inputs[:4],
        names_filter=lambda name: name == "blocks.0.attn.hook_pattern",
    )
    print("attention of '=' over (a, b, =), head 0:", cache["blocks.0.attn.hook_pattern"][0, 0, -1])


if __name__ == "__main__":
    main()
