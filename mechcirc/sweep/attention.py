"""Attention patterns of a circuit's heads on a few clean prompts, for ``attention.json``.

Heads chosen: the heads among the circuit's nodes with the largest total ``|edge score|`` over
the in-circuit edges that touch them (at most ``plan.attention_heads``). When the circuit is
empty (no reliable baseline gap, as before a task is learned) the 50 strongest edges stand in
for it, so the view still shows the heads attribution points at.

Example:
    >>> entry = attention_entry(model, pairs, circuit, plan, unit)   # doctest: +SKIP
    >>> entry["heads"], len(entry["prompts"][0]["patterns"])          # doctest: +SKIP
    (['a1.h2', 'a0.h3'], 2)
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import torch

from mechcirc.graph import CircuitGraph
from mechcirc.models.protocol import HookedModel
from mechcirc.sweep.plan import SweepPlan, Unit
from mechcirc.tasks import PromptPairs

__all__ = ["attention_entry", "top_circuit_heads"]

FALLBACK_EDGES = 50
_HEAD = re.compile(r"^a(\d+)\.h(\d+)")


def top_circuit_heads(graph: CircuitGraph, k: int) -> list[str]:
    """Up to ``k`` head names (``a1.h2``) ranked by total ``|score|`` of their in-circuit edges
    (or of the strongest edges when the circuit is empty); ties by name."""
    edges = graph.in_graph_edges()
    if not edges:
        strongest = min(FALLBACK_EDGES, graph.layout.n_edges)
        edges = graph.select("topn", n=strongest, prune=False).in_graph_edges()
    totals: dict[str, float] = defaultdict(float)
    for name, score in edges:
        src, _, dst = name.partition("->")
        for node in (src, dst.split("<")[0]):
            if _HEAD.match(node):
                totals[node] += abs(score)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in ranked[:k]]


@torch.no_grad()
def attention_entry(
    model: HookedModel, pairs: PromptPairs, graph: CircuitGraph, plan: SweepPlan, unit: Unit
) -> dict[str, Any]:
    """``{"model", "revision", "heads", "prompts": [{"tokens", "patterns"}]}`` with
    ``patterns[h][q][k]`` of head ``heads[h]`` on the first ``plan.attention_prompts`` clean
    prompts (their real tokens only)."""
    heads = top_circuit_heads(graph, plan.attention_heads)
    located = [tuple(int(x) for x in _HEAD.match(h).groups()) for h in heads]
    hook_names = {f"blocks.{layer}.attn.hook_pattern" for layer, _ in located}
    device = next(model.parameters()).device
    prompts = []
    for row in range(min(plan.attention_prompts, len(pairs))):
        length = int(pairs.attention_mask[row].sum())
        tokens = pairs.clean[row, :length].unsqueeze(0).to(device)
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in hook_names)
        patterns = [
            cache[f"blocks.{layer}.attn.hook_pattern"][0, head].float().cpu().tolist()
            for layer, head in located
        ]
        words = [model.tokenizer.decode([int(t)]) for t in tokens[0]]
        prompts.append({"tokens": words, "patterns": patterns})
    return {"model": unit.model, "revision": unit.revision, "heads": heads, "prompts": prompts}
