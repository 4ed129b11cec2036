"""Path patching: the exact shortcut for frozen receivers vs the two-run definition, side by side.

Every head of a tiny Pythia-shaped model (6 layers x 8 heads, d_model 256) is patched into
(a) the final residual stream (``logits``) and (b) two heads' queries in the last layer, on 16
IOI prompts, with :class:`~mechcirc.measures.paths.PathPatcher` computing the receivers' inputs
by arithmetic (the default) or by the recording forward pass (receivers not cached). One thread;
prints the ratio and writes ``benchmarks/results/path_patching.json``.

    .venv/bin/python benchmarks/path_patching.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from mechcirc import tasks
from mechcirc.graph.layout import GraphLayout
from mechcirc.measures.paths import PathPatcher, receiver_groups
from mechcirc.models.hooks import enable_analysis_hooks
from mechcirc.models.tiny import tiny_model


def time_senders(model, pairs, groups, cached: bool) -> float:
    senders = [(layer, head) for layer in range(model.cfg.n_layers - 1) for head in range(8)]
    started = time.perf_counter()
    with torch.no_grad(), enable_analysis_hooks(model):
        patcher = PathPatcher(
            model, pairs.clean, pairs.corrupted, receivers=groups if cached else None
        )
        for sender in senders:
            patcher.run([sender], groups)
    return time.perf_counter() - started


def main() -> None:
    torch.set_num_threads(1)
    model = tiny_model("gpt-neox", n_layers=6, n_heads=8, d_model=256)
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=16, seed=0)
    layout = GraphLayout.from_model(model)
    results = {}
    for label, receivers in {"logits": ["logits"], "queries": ["a5.h0<q>", "a5.h3<q>"]}.items():
        groups = receiver_groups(layout, receivers)
        two_runs = time_senders(model, pairs, groups, cached=False)
        shortcut = time_senders(model, pairs, groups, cached=True)
        results[label] = {
            "two_runs_s": round(two_runs, 3),
            "shortcut_s": round(shortcut, 3),
            "speedup": round(two_runs / shortcut, 1),
        }
        print(f"{label:<8} two runs {two_runs:7.2f} s  shortcut {shortcut:7.2f} s  "
              f"x{two_runs / shortcut:.1f}")  # fmt: skip
    out = Path(__file__).parent / "results" / "path_patching.json"
    out.write_text(json.dumps({"model": "tiny gpt-neox 6x8, d=256", "prompts": 16, **results}))


if __name__ == "__main__":
    main()
