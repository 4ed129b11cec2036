"""Per-head path-patching effects the IOI roles are tested with (Tigges et al. 2024, Fig. 4).

Every effect is normalized as Tigges et al.'s ``logit_diff_noising``:
``(patched - clean) / (clean - corrupted)`` of the mean logit difference, so -1 means the path
alone carries the whole corruption and 0 means it carries none.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.measures.paths import PathPatcher
from mechcirc.models.protocol import HookedModel
from mechcirc.tasks.metrics import baseline_gap
from mechcirc.tasks.pairs import PromptPairs

__all__ = ["Baselines", "head_inputs", "path_effects", "swap_effects"]

Head = tuple[int, int]


class Baselines:
    """Clean and corrupted mean logit differences of the prompts (and their gap)."""

    def __init__(self, model: HookedModel, pairs: PromptPairs, batch_size: int):
        clean, corrupted = [], []
        with torch.no_grad():
            for batch in pairs.batches(batch_size):
                batch = batch.to(model.W_U.device)
                clean.append(batch.evaluate(model(batch.clean)).cpu())
                corrupted.append(batch.evaluate(model(batch.corrupted)).cpu())
        self.gap = baseline_gap(torch.cat(clean), torch.cat(corrupted))

    def normalize(self, patched_mean: float) -> float:
        return (patched_mean - self.gap.clean) / (self.gap.clean - self.gap.corrupted)


def head_inputs(model: HookedModel, heads: Sequence[Head], kind: str) -> dict[str, list[int]]:
    """Receiver groups for the ``kind`` (q, k, v) inputs of ``heads`` (KV heads for k / v)."""
    group = 1
    if kind in ("k", "v"):
        n_kv = getattr(model.cfg, "n_key_value_heads", None) or model.cfg.n_heads
        group = model.cfg.n_heads // n_kv
    receivers: dict[str, list[int]] = {}
    for layer, head in heads:
        index = head // group
        heads_here = receivers.setdefault(f"blocks.{layer}.hook_{kind}_input", [])
        if index not in heads_here:
            heads_here.append(index)
    return receivers


def path_effects(
    model: HookedModel,
    pairs: PromptPairs,
    baselines: Baselines,
    receivers: dict[str, list[int]],
    senders: Sequence[Head],
    batch_size: int,
) -> Float[Tensor, "n_layers n_heads"]:
    """Normalized effect of each sender head -> ``receivers``; NaN for heads not sent."""
    totals = torch.zeros(len(senders), dtype=torch.float64)
    for batch in pairs.batches(batch_size):
        batch = batch.to(model.W_U.device)
        patcher = PathPatcher(model, batch.clean, batch.corrupted, receivers=receivers)
        final = receivers == {f"blocks.{model.cfg.n_layers - 1}.hook_resid_post": []}
        for i, sender in enumerate(tqdm(senders, desc="path patching", leave=False)):
            if final:  # only the answer positions' logits are needed
                logits = patcher.answer_logits([sender], batch.answer_pos)
                totals[i] += float(batch.metric_at_answer(logits).double().sum())
                continue
            logits, _ = patcher.run([sender], receivers)
            totals[i] += float(batch.evaluate(logits).double().sum())
    grid = torch.full((model.cfg.n_layers, model.cfg.n_heads), torch.nan)
    for (layer, head), total in zip(senders, totals, strict=True):
        grid[layer, head] = baselines.normalize(float(total) / len(pairs))
    return grid


def _nmh_attention(captured, movers: Sequence[Head], batch: PromptPairs) -> dict[str, Tensor]:
    rows = torch.arange(len(batch), device=batch.clean.device)
    end = batch.positions["end"]
    found = {}
    for key in ("io", "s1", "s2"):
        values = [
            captured[f"blocks.{layer}.attn.hook_pattern"][rows, head, end, batch.positions[key]]
            for layer, head in movers
        ]
        found[key] = torch.stack(values).mean(0)  # mean over the name movers, per prompt
    return found


def swap_effects(
    model: HookedModel,
    pairs: PromptPairs,
    sender: Head,
    movers: Sequence[Head],
    swapped: Tensor,
    batch_size: int,
) -> dict[str, float]:
    """Relative change of the logit difference and of the name movers' attention from the
    final token to IO, S1 and S2 when ``sender``'s output at the final token reaches the
    name movers' queries from the ``swapped`` prompts (Tigges et al.'s swap test)."""
    receivers = head_inputs(model, movers, "q")
    capture = sorted({f"blocks.{layer}.attn.hook_pattern" for layer, _ in movers})
    sums = {key: [0.0, 0.0] for key in ("logit_diff", "io", "s1", "s2")}
    for start in range(0, len(pairs), batch_size):
        batch = pairs.select(slice(start, start + batch_size)).to(model.W_U.device)
        source = swapped[start : start + batch_size, : batch.clean.shape[1]].to(model.W_U.device)
        patcher = PathPatcher(model, batch.clean, source, receivers=receivers)
        with torch.no_grad():
            _, clean_cache = model.run_with_cache(batch.clean, names_filter=lambda n: n in capture)
        logits, captured = patcher.run(
            [sender], receivers, positions=batch.answer_pos, capture=capture
        )
        before = {"logit_diff": batch.evaluate(patcher.clean_logits)}
        before.update(_nmh_attention(clean_cache, movers, batch))
        after = {"logit_diff": batch.evaluate(logits)}
        after.update(_nmh_attention(captured, movers, batch))
        for key in sums:
            sums[key][0] += float(before[key].double().sum())
            sums[key][1] += float(after[key].double().sum())
    return {
        key: (new - old) / abs(old) if old else float("nan") for key, (old, new) in sums.items()
    }
