"""Component swap over checkpoints (Tigges et al. 2024's auxiliary analysis): how well a
checkpoint does when some of its heads behave as another checkpoint's do.

``swap_head_outputs(target, source, pairs, heads)`` runs ``target`` on the clean prompts with
the outputs (``hook_result``, what each head writes into the residual stream) of ``heads``
replaced by ``source``'s outputs on the same prompts, and
returns the task metric (e.g. IOI logit difference) of target, source and the swapped target.
This swaps what the heads *write* (computed on the source's own residual stream), an
activation-level swap that needs no weight surgery and works across architectures;
:func:`component_swap_table` does it for every ordered pair of checkpoints.

Example:
    >>> swap_head_outputs(step_1000, step_143000, pairs, [(9, 6), (9, 9)])   # doctest: +SKIP
    {'target': 0.4, 'source': 3.1, 'swapped': 1.7}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from mechcirc.errors import UsageError
from mechcirc.models.hooks import enable_analysis_hooks
from mechcirc.models.protocol import HookedModel
from mechcirc.tasks.pairs import PromptPairs

__all__ = ["component_swap_table", "swap_head_outputs"]

Head = tuple[int, int]


def _mean_metric(model: HookedModel, pairs: PromptPairs, hooks, batch_size: int) -> float:
    total = 0.0
    for batch in pairs.batches(batch_size):
        batch = batch.to(model.W_U.device)
        logits = model.run_with_hooks(batch.clean, fwd_hooks=hooks(batch))
        total += float(batch.evaluate(logits).double().sum())
    return total / len(pairs)


@torch.no_grad()
def swap_head_outputs(
    target: HookedModel,
    source: HookedModel,
    pairs: PromptPairs,
    heads: Sequence[Head],
    *,
    batch_size: int = 16,
) -> dict[str, float]:
    """Mean metric of ``target``, ``source`` and ``target`` with ``heads``' outputs from
    ``source`` (module docstring)."""
    if target.cfg.n_layers != source.cfg.n_layers or target.cfg.n_heads != source.cfg.n_heads:
        raise UsageError("component swap needs two checkpoints of the same architecture")
    layers = sorted({layer for layer, _ in heads})
    names = {f"blocks.{layer}.attn.hook_result" for layer in layers}

    def swapped(batch):
        _, cache = source.run_with_cache(batch.clean, names_filter=lambda n: n in names)
        hooks = []
        for layer in layers:
            picked = [h for lay, h in heads if lay == layer]
            name = f"blocks.{layer}.attn.hook_result"
            hooks.append((name, _take(cache[name], picked)))
        return hooks

    with enable_analysis_hooks(target), enable_analysis_hooks(source):
        return {
            "target": _mean_metric(target, pairs, lambda batch: [], batch_size),
            "source": _mean_metric(source, pairs, lambda batch: [], batch_size),
            "swapped": _mean_metric(target, pairs, swapped, batch_size),
        }


def _take(source_result, heads: list[int]):
    def hook(result, hook):
        result = result.clone()
        result[:, :, heads] = source_result[:, :, heads].to(result.dtype)
        return result

    return hook


def component_swap_table(
    models: Mapping[int, HookedModel],
    pairs: PromptPairs,
    heads_by_step: Mapping[int, Sequence[Head]],
    *,
    batch_size: int = 16,
):
    """For every ordered pair of checkpoints (steps), the target's metric with the *source's*
    role heads (``heads_by_step[source]``) swapped in: columns ``source_step``,
    ``target_step``, ``target``, ``source``, ``swapped``."""
    import pandas as pd

    rows = []
    for source_step, source in models.items():
        heads = list(heads_by_step.get(source_step, []))
        if not heads:
            continue
        for target_step, target in models.items():
            if target_step == source_step:
                continue
            result = swap_head_outputs(target, source, pairs, heads, batch_size=batch_size)
            rows.append({"source_step": source_step, "target_step": target_step, **result})
    return pd.DataFrame(rows, columns=["source_step", "target_step", "target", "source", "swapped"])
