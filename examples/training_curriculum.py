"""Curriculum on sparse modular addition: pretrain on p=2, finetune on p=4 (Odonnat et al.).

Trains the hooked cross-attention model from scratch and with the curriculum at the paper's
stated lr 1e-3 throughout, reads the query's attention with ``run_with_cache``, and after the
p=2 phase measures "counting zeros" (Fig. 3): the share of the attention on the first k tokens
that lands on zeros, and how well z_A encodes the number of zeros. Nothing is written to disk.
Default settings are a short version of the paper's (a few minutes on one CPU core);
``--quick`` is a seconds-long smoke run; the full experiment with figures is
``mechcirc experiment curriculum --out DIR``.

Run: ``.venv/bin/python examples/training_curriculum.py [--quick]``
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.analyses.training.circuits import count_code, zero_attention_share
from mechcirc.tasks import SPARSE_MODULAR_ADDITION
from mechcirc.toys import CrossAttentionConfig, HookedCrossAttention
from mechcirc.training import TrainConfig, Trainer

K = 5


def read(model, inputs):
    """The query's attention [n, T] and z_A [n, d] on ``inputs``."""
    logits, cache = model.run_with_cache(inputs, names_filter=["attn.hook_pattern", "attn.hook_z"])
    return logits, cache["attn.hook_pattern"], cache["attn.hook_z"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, pretrain, finetune = (64, 20, 30) if args.quick else (2048, 1500, 1500)

    p4 = SPARSE_MODULAR_ADDITION.build(p=4, seq_len=12, k=K, n_train=n, n_test=n, seed=0)
    p2 = SPARSE_MODULAR_ADDITION.build(
        p=2, seq_len=12, k=K, n_train=n, n_test=n, seed=1, d_vocab=4
    )  # same 4-token model for both phases
    settings = {"optimizer": "adam", "lr": 1e-3, "eval_every": 100, "progress": False}
    shape = CrossAttentionConfig(d_vocab=4, n_ctx=12, d_model=32, seed=0)

    scratch = HookedCrossAttention(shape)
    Trainer(scratch, p4, TrainConfig(steps=pretrain + finetune, **settings)).fit()

    curriculum = HookedCrossAttention(shape)
    Trainer(curriculum, p2, TrainConfig(steps=pretrain, **settings)).fit()
    with torch.no_grad():
        _, pattern, z_a = read(curriculum, p2.test_inputs)
        _, _, z_fit = read(curriculum, p2.train_inputs)
    share = zero_attention_share(pattern, p2.test_inputs, K)
    zeros = (p2.test_inputs[:, :K] == 0).float().mean(1)
    seen = ~share.isnan()
    code = count_code(z_fit, p2.train_inputs, z_a, p2.test_inputs, K)
    print(f"after p=2: zero attention share {float(share[seen].mean()):.4f}")
    print(f"after p=2: zero token share {float(zeros[seen].mean()):.4f}")
    print(f"after p=2: zero-count read-out accuracy {code['count_readout_acc']:.4f}")
    Trainer(curriculum, p4, TrainConfig(steps=finetune, **settings)).fit()

    with torch.no_grad():
        for name, model in (("scratch", scratch), ("curriculum", curriculum)):
            logits, pattern, _ = read(model, p4.test_inputs)
            accuracy = (logits.argmax(-1) == p4.test_labels).float().mean()
            print(f"{name}: p=4 test accuracy {accuracy:.4f}")
            print(f"{name}: attention on the first k {pattern[:, :K].sum(-1).mean():.4f}")


if __name__ == "__main__":
    main()
