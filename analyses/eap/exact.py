"""Exact edge scores: patch one edge at a time and measure the metric (the ground truth).

``score(edge) = mean over examples of metric(clean) - metric(clean with that edge carrying its
source's corrupted activation)``, every other edge clean. Each edge costs one forward pass per
batch (plus one clean and one corrupted forward per batch), so this is for small models and
for testing the gradient methods. Nothing is pruned while scoring: on parallel-attention
models (Pythia) an MLP whose edges are being scored keeps all its other edges.

Example:
    >>> scores = exact_scores(model, pairs)   # doctest: +SKIP
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.analyses.eap.corrupted_run import record_corrupted
from mechcirc.analyses.eap.forward import run_metric
from mechcirc.analyses.eap.model_parts import ModelParts, attribution_mode
from mechcirc.analyses.eap.patch_plan import PatchPlan
from mechcirc.analyses.eap.patching import CircuitPatch
from mechcirc.tasks import PromptPairs

__all__ = ["exact_scores"]


def exact_scores(
    model, pairs: PromptPairs, *, batch_size: int = 32, progress: bool = True
) -> Float[Tensor, "n_src n_dst"]:
    """``[n_src, n_dst]`` float64 exact scores (0 where no edge exists)."""
    parts = ModelParts.from_model(model)
    layout = parts.layout
    device = next(model.parameters()).device
    real = layout.real_edges.to(device)
    edges = real.nonzero().tolist()
    scores = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.float64)
    batches = list(pairs.batches(batch_size))
    bar = tqdm(total=len(batches) * len(edges), desc="exact", unit="edge", disable=not progress)
    with attribution_mode(model), torch.no_grad():
        for batch in batches:
            batch = batch.to(device)
            corrupted = record_corrupted(model, parts, batch)
            clean = float(run_metric(model, batch.clean, batch).double().sum())
            for src, dst in edges:
                in_graph = real.clone()
                in_graph[src, dst] = False
                plan = PatchPlan.from_mask(layout, in_graph).to(device)
                patch = CircuitPatch(model, parts, plan, corrupted)
                patched = run_metric(model, batch.clean, batch, patch.hooks())
                scores[src, dst] += clean - float(patched.double().sum())
                bar.update()
    bar.close()
    return scores / len(pairs)
