"""Curriculum on sparse modular addition: pretrain on p=2, finetune on p=4 (Odonnat et al.).

Trains the hooked cross-attention model from scratch and with the curriculum, then reads the
query's attention pattern with ``run_with_cache``. Default settings are a short version of the
paper's (about a minute on one CPU core); ``--quick`` is a seconds-long smoke run; the full
experiment with figures is ``mechcirc experiment curriculum --out DIR``.

Run: ``.venv/bin/python examples/training_curriculum.py [--quick]``
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.tasks import SPARSE_MODULAR_ADDITION
from mechcirc.toys import CrossAttentionConfig, HookedCrossAttention
from mechcirc.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, pretrain, finetune = (64, 20, 30) if args.quick else (2048, 600, 900)

    p4 = SPARSE_MODULAR_ADDITION.build(p=4, seq_len=12, k=5, n_train=n, n_test=n, seed=0)
    p2 = SPARSE_MODULAR_ADDITION.build(
        p=2, seq_len=12, k=5, n_train=n, n_test=n, seed=1, d_vocab=4
    )  # same 4-token model for both phases
    quiet = {"optimizer": "adam", "eval_every": 100, "progress": not args.quick}

    scratch = HookedCrossAttention(CrossAttentionConfig(d_vocab=4, n_ctx=12, d_model=32, seed=0))
    Trainer(scratch, p4, TrainConfig(steps=pretrain + finetune, lr=1e-3, **quiet)).fit()

    curriculum = HookedCrossAttention(CrossAttentionConfig(d_vocab=4, n_ctx=12, d_model=32, seed=0))
    Trainer(curriculum, p2, TrainConfig(steps=pretrain, lr=1e-3, **quiet)).fit()
    metrics = Trainer(curriculum, p4, TrainConfig(steps=finetune, lr=1e-2, **quiet)).fit()

    with torch.no_grad():
        for name, model in (("scratch", scratch), ("curriculum", curriculum)):
            logits, cache = model.run_with_cache(p4.test_inputs, names_filter="attn.hook_pattern")
            accuracy = (logits.argmax(-1) == p4.test_labels).float().mean()
            first_k = cache["attn.hook_pattern"][:, :5].sum(-1).mean()
            print(
                f"{name:10s} p=4 test accuracy {accuracy:.3f}, attention on the first k=5 "
                f"tokens {first_k:.2f}"
            )
    print(metrics.tail(3).to_string(index=False))


if __name__ == "__main__":
    main()
