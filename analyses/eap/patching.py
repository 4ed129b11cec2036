"""A forward pass of the clean input with every edge outside a circuit patched to corrupted.

:class:`CircuitPatch` turns a :class:`~mechcirc.analyses.eap.patch_plan.PatchPlan` and the
batch's :class:`~mechcirc.analyses.eap.corrupted_run.CorruptedRun` into hooks:

- sources: for the plan's sources only, ``this run - corrupted`` into one ``[n_sources,
  batch, pos, d_model]`` float32 buffer (a head's from its ``hook_z`` difference, one
  ``W_O`` product for the layer's needed heads);
- a layer's heads: a *corrupted* head's ``hook_q`` / ``hook_k`` / ``hook_v`` value is the
  corrupted run's; a *mixed* head's is recomputed from its own input (the residual plus its
  signed sum of differences, through the block's norm and that head's slice of ``W_Q`` /
  ``W_K`` / ``W_V``); the other heads keep what the bridge computed;
- MLP and logits inputs at ``ln2.hook_in`` / ``ln_final.hook_in`` (views the residual's other
  readers do not see): the corrupted residual, or the residual plus the signed sum.

A layer's mixed q/k/v and MLP destinations take their sums over the sources before the layer
in one matrix product at the layer's input (the differences are read once a layer; the MLP of
a sequential block adds its own layer's heads later).

Untouched destinations get no hook, so patching a single edge costs one forward and nothing
is pruned as a side effect. Everything is computed from the corrupted run's ``start`` on (the
first position where the batch's clean and corrupted tokens differ): before it the patched run
is the clean run.

Example:
    >>> run = record_corrupted(model, parts, batch)                           # doctest: +SKIP
    >>> plan = PatchPlan.from_mask(parts.layout, in_graph)                     # doctest: +SKIP
    >>> patched = run_metric(model, batch.clean, batch,
    ...                      CircuitPatch(model, parts, plan, run).hooks())     # doctest: +SKIP
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.analyses.eap.corrupted_run import (
    FINAL_HOOK,
    CorruptedRun,
    attn_in_hook,
    mlp_in_hook,
    mlp_out_hook,
    qkv_hook,
    z_hook,
)
from mechcirc.analyses.eap.forward import INPUT_HOOK, Hook
from mechcirc.analyses.eap.model_parts import ModelParts
from mechcirc.analyses.eap.patch_plan import DestinationGroup, PatchPlan

__all__ = ["CircuitPatch"]

KINDS = ("q", "k", "v")


class CircuitPatch:
    """Hooks that patch every edge outside the plan's circuit to its corrupted value.

    Args:
        model: the TransformerBridge (its blocks' norms recompute mixed heads' q/k/v).
        parts: the model's weights and layout.
        plan: the circuit's :class:`PatchPlan`.
        corrupted: the batch's corrupted run (:func:`record_corrupted`).
    """

    def __init__(self, model, parts: ModelParts, plan: PatchPlan, corrupted: CorruptedRun):
        self.model, self.parts, self.plan, self.corrupted = model, parts, plan, corrupted
        final = corrupted.values[FINAL_HOOK]
        self.start = corrupted.start
        self.diffs = final.new_empty(len(plan.sources), *final.shape, dtype=torch.float32)
        self._slot = {int(src): slot for slot, src in enumerate(plan.sources.tolist())}
        self._resid: dict[int, Tensor] = {}
        self._sums: dict[tuple[int, str], Tensor] = {}
        self._heads: dict[int, Tensor] = {}

    def hooks(self) -> list[Hook]:
        if not self.corrupted.n_positions:
            return []  # clean and corrupted tokens are the same: nothing to patch
        hooks = self._source_hooks()
        for layer, (attn, mlp) in enumerate(zip(self.plan.attn, self.plan.mlp, strict=True)):
            if len(attn.mixed) or len(mlp.mixed):
                hooks.append((attn_in_hook(layer), self._layer_sums_hook(layer)))
            if not attn.untouched:
                hooks += [(qkv_hook(layer, kind), self._qkv_hook(layer, kind)) for kind in KINDS]
            if not mlp.untouched:
                hooks.append((mlp_in_hook(layer), self._input_hook(mlp_in_hook(layer), mlp, layer)))
        if not self.plan.logits.untouched:
            hooks.append((FINAL_HOOK, self._input_hook(FINAL_HOOK, self.plan.logits)))
        return hooks

    # ---- sources: this run minus the corrupted run, for the plan's sources only ------------
    def _source_hooks(self) -> list[Hook]:
        layout, hooks = self.parts.layout, []
        singles = [(0, INPUT_HOOK)]
        singles += [
            (layout.mlp_src(layer), mlp_out_hook(layer)) for layer in range(layout.n_layers)
        ]
        for src, name in singles:
            if src in self._slot:
                hooks.append((name, self._single_source_hook(self._slot[src], name)))
        for layer in range(layout.n_layers):
            rows = layout.attn_src(layer)
            slots = [self._slot[s] for s in range(rows.start, rows.stop) if s in self._slot]
            if slots:
                heads = self.plan.sources[slots[0] : slots[-1] + 1] - rows.start
                hooks.append((z_hook(layer), self._head_sources_hook(layer, slots[0], heads)))
        return hooks

    def _single_source_hook(self, slot: int, name: str):
        corrupted = self.corrupted.values[name].float()

        def hook(x, hook):
            self.diffs[slot] = x.detach()[:, self.start :].float() - corrupted

        return hook

    def _head_sources_hook(self, layer: int, first: int, heads: Tensor):
        w_o = self.parts.layers[layer].w_o[heads]
        corrupted_z = self.corrupted.values[z_hook(layer)][:, :, heads].float()

        def hook(z, hook):
            delta = z.detach()[:, self.start :, heads].float() - corrupted_z  # [b, p, h, e]
            delta = delta.permute(2, 0, 1, 3).reshape(len(heads), -1, delta.shape[-1])
            out = self.diffs[first : first + len(heads)].view(len(heads), -1, w_o.shape[-1])
            torch.bmm(delta, w_o, out=out)

        return hook

    # ---- signed sums of differences ---------------------------------------------------------
    def _weighted(self, weights: Tensor, first: int = 0) -> Float[Tensor, "n batch_pos_d"]:
        """``weights @ diffs[first : first + weights.shape[1]]``, flattened."""
        n_sources = weights.shape[1]
        if not n_sources:
            return weights.new_zeros(len(weights), self.corrupted.values[FINAL_HOOK].numel())
        return weights @ self.diffs[first : first + n_sources].reshape(n_sources, -1)

    def _layer_sums_hook(self, layer: int):
        """At the layer's input, the sums over the sources before the layer of its mixed
        q/k/v and MLP destinations: one matrix product reads those differences once."""
        attn, mlp = self.plan.attn[layer], self.plan.mlp[layer]
        before = attn.weights.shape[1]
        weights = torch.cat([attn.weights, mlp.weights[:, :before]])

        def hook(resid, hook):
            self._resid[layer] = resid[:, self.start :]
            sums = self._weighted(weights)
            self._sums[layer, "attn"], self._sums[layer, "mlp"] = sums.split(
                [len(attn.mixed), len(mlp.mixed)]
            )

        return hook

    def _mixed_inputs(
        self, group: DestinationGroup, resid: Tensor, corrupted: Tensor, sums: Tensor
    ) -> Float[Tensor, "n_mixed batch pos d_model"]:
        """Each mixed destination's input: its residual (corrupted, or this run's) plus its
        signed sum of differences."""
        base = corrupted.float()
        if not bool(group.from_corrupted.all()):
            base = torch.where(group.from_corrupted[:, None, None, None], base, resid.float())
        return base + sums.view(len(group.mixed), *corrupted.shape)

    def _input_hook(self, name: str, group: DestinationGroup, layer: int | None = None):
        """MLP (``layer`` given) or logits input: one destination, corrupted or mixed."""
        corrupted = self.corrupted.values[name]
        before = self.plan.attn[layer].weights.shape[1] if layer is not None else 0

        def hook(resid, hook):
            patched = resid.clone()
            if len(group.corrupted):
                patched[:, self.start :] = corrupted
                return patched
            # the MLP's sum over sources before its layer was taken at the layer's input
            sums = self._weighted(group.weights[:, before:], before)
            if layer is not None:
                sums += self._sums.pop((layer, "mlp"))
            own = resid[:, self.start :]
            patched[:, self.start :] = self._mixed_inputs(group, own, corrupted, sums)[0]
            return patched

        return hook

    def _qkv_hook(self, layer: int, kind: str):
        layout, group = self.parts.layout, self.plan.attn[layer]
        start = layout.q_dst(layer).start
        kind_cols = layout.qkv_dst(layer, kind)
        low, high = kind_cols.start - start, kind_cols.stop - start
        dead = group.corrupted[(group.corrupted >= low) & (group.corrupted < high)]
        in_kind = (group.mixed >= low) & (group.mixed < high)
        mixed_rows, mixed = in_kind.nonzero()[:, 0], group.mixed[in_kind]
        corrupted = self.corrupted.values[qkv_hook(layer, kind)][:, :, dead - low]

        def hook(value, hook):
            if len(dead) or len(mixed):
                value = value.clone()
                value[:, self.start :, dead - low] = corrupted
                if len(mixed):
                    heads = self._mixed_heads(layer)[:, :, mixed_rows]
                    value[:, self.start :, mixed - low] = heads.to(value.dtype)
            if kind == "v":  # the last of the layer's three: its mixed heads are done
                self._heads.pop(layer, None)
            return value

        return hook

    def _mixed_heads(self, layer: int) -> Float[Tensor, "batch pos n_mixed d_head"]:
        """The layer's mixed heads' q/k/v, from their own inputs (computed once a layer)."""
        if layer not in self._heads:
            group = self.plan.attn[layer]
            resid = self._resid.pop(layer)
            corrupted = self.corrupted.values[attn_in_hook(layer)]
            sums = self._sums.pop((layer, "attn"))
            inputs = self._mixed_inputs(group, resid, corrupted, sums).to(resid.dtype)
            self._heads[layer] = self._project(layer, group.mixed, inputs)
        return self._heads[layer]

    def _project(self, layer: int, heads: Tensor, inputs: Tensor) -> Tensor:
        """Each head's q/k/v from its own input: the block's norm, then its slice."""
        norm = self.model.blocks[layer].ln1.original_component
        layer_parts = self.parts.layers[layer]
        normed = norm(inputs).float()
        out = torch.einsum("hbpd,hde->bphe", normed, layer_parts.w_qkv[heads])
        if layer_parts.b_qkv is not None:
            out = out + layer_parts.b_qkv[heads]
        return out
