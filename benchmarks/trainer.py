"""Trainer steps/s against a plain PyTorch loop over the same model, side by side in one run.

Workloads (full batch, ``torch.set_num_threads(1)``):

- ``cross-attention``: the curriculum model (d=32, T=12, p=4) on n=2048 sequences, Adam;
- ``grokking``: the grokking transformer (d=128, 4 heads, d_mlp 512) on modular addition,
  P=59, 50% of the pairs (1,740), AdamW(wd=1.0).

For the grokking model four loops are timed: the plain loop calling the TransformerBridge
(``bridge(x)[:, -1]``, the ``boot_native`` route), the plain loop calling its NativeModel
(``native(x)[:, -1]``), the plain loop using ``last_position_logits``, and mechcirc's
``Trainer`` (which uses ``last_position_logits``). Every plain loop is the textbook
``zero_grad / forward / cross_entropy / backward / step``; the trainer also logs metrics every
``eval_every`` steps as it would in an experiment.

The machine is shared, so configurations alternate over ``--repeats`` rounds and the reported
figure is the median of per-round ratios; CPU time (process time) is reported beside wall time.
Writes ``benchmarks/results/trainer.json``.

Run: ``.venv/bin/python benchmarks/trainer.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

RESULTS = Path(__file__).parent / "results" / "trainer.json"


def plain_loop(forward, params, data, steps: int, optimizer_cls, **opt_kwargs) -> None:
    optimizer = optimizer_cls(params, **opt_kwargs)
    x, y = data.train_inputs, data.train_labels
    for _ in range(steps):
        loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def workloads(steps: int, eval_every: int) -> dict:
    """name -> zero-argument callables that each run ``steps`` training steps."""
    from mechcirc.parameters import trainable_parameters
    from mechcirc.tasks import MODULAR_ADDITION, SPARSE_MODULAR_ADDITION
    from mechcirc.toys import (
        CrossAttentionConfig,
        HookedCrossAttention,
        grokking_model,
        last_position_logits,
    )
    from mechcirc.training import TrainConfig, Trainer

    sparse = SPARSE_MODULAR_ADDITION.build(p=4, seq_len=12, k=5, n_train=2048, n_test=2048)
    modular = MODULAR_ADDITION.build(p=59, train_fraction=0.5)
    adam = {"lr": 1e-3}
    adamw = {"lr": 1e-3, "weight_decay": 1.0, "betas": (0.9, 0.98)}

    def xattn_plain():
        model = HookedCrossAttention(CrossAttentionConfig(seed=0))
        plain_loop(model, list(model.parameters()), sparse, steps, torch.optim.Adam, **adam)

    def xattn_trainer():
        model = HookedCrossAttention(CrossAttentionConfig(seed=0))
        config = TrainConfig(steps=steps, optimizer="adam", eval_every=eval_every, progress=False)
        Trainer(model, sparse, config).fit()

    def grok_plain(route: str):
        def run():
            bridge = grokking_model(59, seed=0)
            native = bridge.original_model
            forward = {
                "bridge": lambda x: bridge(x)[:, -1],
                "native": lambda x: native(x)[:, -1],
                "last-position": lambda x: last_position_logits(native, x),
            }[route]
            plain_loop(
                forward, trainable_parameters(native), modular, steps, torch.optim.AdamW, **adamw
            )

        return run

    def grok_trainer():
        config = TrainConfig(
            steps=steps,
            optimizer="adamw",
            weight_decay=1.0,
            betas=(0.9, 0.98),
            eval_every=eval_every,
            progress=False,
        )
        Trainer(grokking_model(59, seed=0), modular, config, logits_fn=last_position_logits).fit()

    return {
        "cross-attention": {"plain": xattn_plain, "trainer": xattn_trainer},
        "grokking": {
            "plain-bridge": grok_plain("bridge"),
            "plain-native": grok_plain("native"),
            "plain-last-position": grok_plain("last-position"),
            "trainer": grok_trainer,
        },
    }


def measure(steps: int, repeats: int, eval_every: int) -> dict:
    results = {}
    for workload, loops in workloads(steps, eval_every).items():
        times = {name: [] for name in loops}
        for _ in range(repeats):
            for name, loop in loops.items():
                times[name].append(timed(loop))
        baseline = "plain" if "plain" in loops else "plain-last-position"
        entry = {}
        for name, samples in times.items():
            walls, cpus = zip(*samples, strict=True)
            ratio = [b[0] / s[0] for s, b in zip(samples, times[baseline], strict=True)]
            cpu_ratio = [b[1] / s[1] for s, b in zip(samples, times[baseline], strict=True)]
            entry[name] = {
                "steps_per_s_wall": steps / statistics.median(walls),
                "steps_per_s_cpu": steps / statistics.median(cpus),
                f"speed_vs_{baseline}_wall": statistics.median(ratio),
                f"speed_vs_{baseline}_cpu": statistics.median(cpu_ratio),
            }
        results[workload] = entry
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="20 steps, 1 round, no JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    steps, repeats = (20, 1) if args.quick else (args.steps, args.repeats)
    results = measure(steps, repeats, args.eval_every)
    for workload, entry in results.items():
        for name, figures in entry.items():
            text = ", ".join(f"{k}={v:.3g}" for k, v in figures.items())
            print(f"{workload:16s} {name:20s} {text}")
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "steps": steps,
            "repeats": repeats,
            "eval_every": args.eval_every,
            "threads": 1,
            "results": results,
        }
        RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
