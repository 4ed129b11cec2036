"""Per-head self-repair (McGrath et al. 2023; Rushing & Nanda 2024), as Tigges et al. (2024,
App. on self-repair) track it over checkpoints.

For head ``h`` on the clean prompts, with ``c`` the correct answer's logit at the answer
position:

- direct effect ``DE``: the change of ``c`` that the head's own output change causes through
  the final norm (with the clean run's scale frozen) and the unembedding, all else clean;
- total effect ``TE``: the change of ``c`` when the head is ablated in a full forward pass;
- self-repair ``TE - DE``: how much the rest of the network (later heads, MLPs, the final
  norm's scale) compensates (positive: the drop is smaller than the direct effect predicts).

Ablations of the head's ``hook_z``: ``zero``, ``mean`` (its mean over all the prompts, per
position) or ``resample`` (its value on the corrupted prompts). Values are means over prompts
and do not depend on ``batch_size``.

Example:
    >>> repair = self_repair(model, pairs, ablation="mean")   # doctest: +SKIP
    >>> repair.frame().sort_values("self_repair").tail()       # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.measures.weights import final_norm_frozen
from mechcirc.models.protocol import HookedModel
from mechcirc.tasks.pairs import PromptPairs

__all__ = ["ABLATIONS", "SelfRepair", "self_repair"]

ABLATIONS = ("zero", "mean", "resample")


@dataclass(frozen=True)
class SelfRepair:
    """``direct``, ``total`` and ``self_repair`` grids ``[n_layers, n_heads]`` (module doc)."""

    ablation: str
    direct: Float[Tensor, "n_layers n_heads"]
    total: Float[Tensor, "n_layers n_heads"]

    @property
    def self_repair(self) -> Float[Tensor, "n_layers n_heads"]:
        return self.total - self.direct

    def frame(self):
        """One row per head: layer, head, ablation, direct, total, self_repair."""
        import pandas as pd

        n_layers, n_heads = self.direct.shape
        return pd.DataFrame(
            [
                {
                    "layer": layer,
                    "head": head,
                    "ablation": self.ablation,
                    "direct": float(self.direct[layer, head]),
                    "total": float(self.total[layer, head]),
                    "self_repair": float(self.self_repair[layer, head]),
                }
                for layer in range(n_layers)
                for head in range(n_heads)
            ]
        )


def _ablated_z(ablation: str, clean: Tensor, corrupted: Tensor, means: dict, z: str) -> Tensor:
    if ablation == "zero":
        return torch.zeros_like(clean)
    if ablation == "mean":
        return means[z][None, : clean.shape[1]].expand_as(clean).to(clean.dtype)
    return corrupted


def _mean_z(model: HookedModel, pairs: PromptPairs, names: set[str], batch_size: int) -> dict:
    """Each layer's ``hook_z`` averaged over the prompts' real tokens, per position:
    ``[pos, head, d_head]``."""
    sums: dict[str, Tensor] = {}
    counts = torch.zeros(pairs.clean.shape[1], dtype=torch.float64)
    for batch in pairs.batches(batch_size):
        batch = batch.to(model.W_U.device)
        mask = batch.attention_mask.double()
        counts[: mask.shape[1]] += mask.sum(0).cpu()
        _, cache = model.run_with_cache(batch.clean, names_filter=lambda n: n in names)
        for name in names & set(cache.keys()):
            total = (cache[name].double() * mask[:, :, None, None]).sum(0)
            if name not in sums:
                shape = (pairs.clean.shape[1], *total.shape[1:])
                sums[name] = torch.zeros(shape, dtype=torch.float64, device=total.device)
            sums[name][: total.shape[0]] += total
    counts = counts.clamp(min=1)[:, None, None]
    return {name: total / counts.to(total.device) for name, total in sums.items()}


@torch.no_grad()
def self_repair(
    model: HookedModel, pairs: PromptPairs, *, ablation: str = "mean", batch_size: int = 16
) -> SelfRepair:
    """Direct and total effect of ablating each head on the correct answer's logit."""
    if ablation not in ABLATIONS:
        raise UsageError(f"ablation must be one of {ABLATIONS}, got {ablation!r}")
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    sums = torch.zeros(2, n_layers, n_heads, dtype=torch.float64)
    names = {f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)} | {"ln_final.hook_scale"}
    means = _mean_z(model, pairs, names - {"ln_final.hook_scale"}, batch_size)
    for batch in pairs.batches(batch_size):
        batch = batch.to(model.W_U.device)
        rows, end = torch.arange(len(batch), device=batch.clean.device), batch.answer_pos
        answer = batch.correct[:, 0]
        logits, clean = model.run_with_cache(batch.clean, names_filter=lambda n: n in names)
        _, corrupted = model.run_with_cache(batch.corrupted, names_filter=lambda n: n in names)
        base = logits[rows, end, answer]
        scale = clean["ln_final.hook_scale"][rows, end] if "ln_final.hook_scale" in clean else 1.0
        for layer in range(n_layers):
            z = f"blocks.{layer}.attn.hook_z"
            new = _ablated_z(ablation, clean[z], corrupted[z], means, z)
            for head in range(n_heads):
                delta = (new[rows, end, head] - clean[z][rows, end, head]) @ model.W_O[layer, head]
                direct = final_norm_frozen(model, delta, scale) @ model.W_U  # [b, vocab]
                sums[0, layer, head] += direct[rows, answer].double().sum().cpu()
                patched = model.run_with_hooks(
                    batch.clean, fwd_hooks=[(z, _replace_head(head, new[:, :, head]))]
                )
                sums[1, layer, head] += (patched[rows, end, answer] - base).double().sum().cpu()
    direct, total = (sums / len(pairs)).float()
    return SelfRepair(ablation, direct, total)


def _replace_head(head: int, value: Tensor):
    def hook(z: Tensor, hook) -> Tensor:
        z = z.clone()
        z[:, :, head] = value
        return z

    return hook
