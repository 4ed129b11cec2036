"""What a circuit evaluation reads from the corrupted run of one batch, recorded in one forward.

An edge outside a circuit carries its source's corrupted activation, so every patched forward
of a batch needs the corrupted run's values. :func:`record_corrupted` records, per batch and
once for all the circuits evaluated on it:

- the residual entering every destination hook (``blocks.L.ln1.hook_in`` for the heads'
  q/k/v, ``blocks.L.ln2.hook_in`` for the MLP, ``ln_final.hook_in`` for the logits): a
  destination that reads no edge of the circuit reads exactly this;
- every head's ``hook_q`` / ``hook_k`` / ``hook_v`` value: what a head whose q/k/v inputs carry
  no circuit edge computes;
- the sources, compactly: the input residual, each layer's ``hook_z`` (``[batch, pos, head,
  d_head]``, one ``d_model`` per layer instead of one per head; a head's source is
  ``z_h @ W_O[h]``) and each MLP's output.

Only positions from ``start`` on are kept: ``start`` is the first position where some row's
clean and corrupted tokens differ. Before it every run of the batch (clean, corrupted or
patched) computes the same values when attention is causal, so nothing there is patched; a
model whose ``cfg.attention_dir`` is not ``"causal"`` keeps every position (``start`` 0).
Each value is kept in the dtype the model computed it in, so a destination fed from here
reproduces the corrupted run bit for bit. ``nbytes`` is what a cache of this batch costs.

Example:
    >>> run = record_corrupted(model, parts, batch)    # doctest: +SKIP
    >>> run.start, run.values["ln_final.hook_in"].shape             # doctest: +SKIP
    (11, torch.Size([8, 10, 576]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.analyses.eap.forward import INPUT_HOOK, Hook, run_metric
from mechcirc.analyses.eap.model_parts import ModelParts
from mechcirc.tasks import PromptPairs

__all__ = [
    "FINAL_HOOK",
    "CorruptedRun",
    "corrupted_hook_names",
    "first_difference",
    "record_corrupted",
]

FINAL_HOOK = "ln_final.hook_in"


def attn_in_hook(layer: int) -> str:
    return f"blocks.{layer}.ln1.hook_in"


def mlp_in_hook(layer: int) -> str:
    return f"blocks.{layer}.ln2.hook_in"


def qkv_hook(layer: int, kind: str) -> str:
    return f"blocks.{layer}.attn.hook_{kind}"


def z_hook(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_z"


def mlp_out_hook(layer: int) -> str:
    return f"blocks.{layer}.hook_mlp_out"


def corrupted_hook_names(n_layers: int) -> list[str]:
    """Every hook :func:`record_corrupted` reads, in forward order."""
    names = [INPUT_HOOK]
    for layer in range(n_layers):
        names += [attn_in_hook(layer), *(qkv_hook(layer, kind) for kind in "qkv")]
        names += [z_hook(layer), mlp_in_hook(layer), mlp_out_hook(layer)]
    return [*names, FINAL_HOOK]


@dataclass(frozen=True)
class CorruptedRun:
    """One batch's corrupted run: its metric and, from position ``start`` on, the values
    named by their hooks."""

    metric: Float[Tensor, " batch"]
    start: int
    values: dict[str, Tensor]

    @property
    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() for v in self.values.values())

    @property
    def n_positions(self) -> int:
        """Positions kept (and patched): from ``start`` to the end of the batch."""
        return self.values[FINAL_HOOK].shape[1]


def first_difference(batch: PromptPairs) -> int:
    """The first position where some row's clean and corrupted tokens differ (the length
    when none does)."""
    differs = (batch.clean != batch.corrupted).any(0)
    return int(differs.nonzero()[0, 0]) if bool(differs.any()) else differs.shape[0]


def record_corrupted(model, parts: ModelParts, batch: PromptPairs) -> CorruptedRun:
    """One no-grad forward of ``batch.corrupted`` recording every value a patch reads (from
    the first difference on; from position 0 when attention is not causal)."""
    values: dict[str, Tensor] = {}
    causal = getattr(model.cfg, "attention_dir", "causal") == "causal"
    start = first_difference(batch) if causal else 0

    def keep(name: str) -> Hook:
        def hook(x, hook):
            values[name] = x.detach()[:, start:].clone()

        return (name, hook)

    hooks = [keep(name) for name in corrupted_hook_names(parts.layout.n_layers)]
    with torch.no_grad():
        metric = run_metric(model, batch.corrupted, batch, hooks)
    return CorruptedRun(metric, start, values)
