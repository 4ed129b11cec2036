"""A forward pass of the clean input with every edge outside a circuit patched to corrupted.

Each destination reads ``its clean-run input - sum over sources s outside the circuit of
(a_s(this run) - a_s(corrupted run))``: an edge outside the circuit carries the corrupted
activation of its source, an edge inside carries what the source computes in this (patched)
run. Query / key / value inputs differ per head, so the patched heads' q/k/v are recomputed
from their own inputs (the block's norm, then that head's slice of ``W_Q`` / ``W_K`` /
``W_V``) and replace ``hook_q`` / ``hook_k`` / ``hook_v``; MLP and logits inputs are patched
at ``ln2.hook_in`` / ``ln_final.hook_in`` (views the residual's other readers do not see).
Destinations whose edges are all in the circuit are left untouched, so patching a single edge
costs one forward and nothing is pruned as a side effect.

Example:
    >>> corrupted = corrupted_sources(model, parts, batch)                     # doctest: +SKIP
    >>> patched = run_metric(model, batch.clean, batch,
    ...                      CircuitPatch(parts, in_graph, corrupted).hooks())  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from mechcirc.analyses.eap.forward import (
    Hook,
    new_source_buffer,
    record_sources,
    run_metric,
    source_hooks,
)
from mechcirc.analyses.eap.model_parts import ModelParts
from mechcirc.tasks import PromptPairs


def corrupted_sources(
    model, parts: ModelParts, batch: PromptPairs
) -> tuple[Float[Tensor, "n_src batch pos d_model"], Float[Tensor, " batch"]]:
    """Source activations and the per-example metric of the corrupted run (one forward)."""
    buffer = new_source_buffer(parts, batch.corrupted)
    with torch.no_grad():
        metric = run_metric(model, batch.corrupted, batch, record_sources(parts, buffer))
    return buffer, metric


class CircuitPatch:
    """Hooks that patch every edge outside ``in_graph`` to its corrupted value.

    Args:
        model: the TransformerBridge (its blocks' norms recompute patched q/k/v).
        parts: the model's weights and layout.
        in_graph: ``[n_src, n_dst]`` circuit membership (non-edges are ignored).
        corrupted: the corrupted run's sources (:func:`corrupted_sources`).
    """

    def __init__(
        self,
        model,
        parts: ModelParts,
        in_graph: Bool[Tensor, "n_src n_dst"],
        corrupted: Float[Tensor, "n_src batch pos d_model"],
    ) -> None:
        self.model, self.parts, self.corrupted = model, parts, corrupted
        layout = parts.layout
        real = layout.real_edges.to(in_graph.device)
        self.patched = (real & ~in_graph).to(corrupted.device, torch.float32)
        self.diff = torch.zeros_like(corrupted)
        self._resid: dict[int, Tensor] = {}
        self._heads: dict[int, Tensor] = {}

    def hooks(self) -> list[Hook]:
        layout = self.parts.layout
        hooks = self._record_hooks()
        for layer in range(layout.n_layers):
            cols = slice(layout.q_dst(layer).start, layout.v_dst(layer).stop)
            if self.patched[:, cols].any():
                hooks.append((f"blocks.{layer}.ln1.hook_in", self._keep_resid(layer)))
                for kind in ("q", "k", "v"):
                    hooks.append((f"blocks.{layer}.attn.hook_{kind}", self._qkv_hook(layer, kind)))
            if self.patched[:, layout.mlp_dst(layer)].any():
                mlp_hook = self._patch_hook(
                    layout.mlp_dst(layer), layout.n_src_before("mlp", layer)
                )
                hooks.append((f"blocks.{layer}.ln2.hook_in", mlp_hook))
        if self.patched[:, layout.logits_dst].any():
            hooks.append(("ln_final.hook_in", self._patch_hook(layout.logits_dst, layout.n_src)))
        return hooks

    # ---- this run's sources, minus the corrupted ones --------------------------------------
    def _record_hooks(self) -> list[Hook]:
        def set_diff(rows: slice, value: Tensor) -> None:
            self.diff[rows] = value.float() - self.corrupted[rows]

        return source_hooks(self.parts, set_diff)

    def _patch(
        self, resid: Tensor, cols: slice | int, n_before: int
    ) -> Float[Tensor, "n batch pos d_model"]:
        """``resid`` minus the patched sources' differences, one copy per destination."""
        mask = self.patched[:n_before, cols]
        if mask.ndim == 1:
            mask = mask[:, None]
        diff = self.diff[:n_before].reshape(n_before, -1)
        shift = (mask.T @ diff).reshape(mask.shape[1], *resid.shape)
        return resid.float()[None] - shift

    # ---- destinations ----------------------------------------------------------------------
    def _patch_hook(self, col: int, n_before: int):
        def hook(resid, hook):
            return self._patch(resid, col, n_before)[0].to(resid.dtype)

        return hook

    def _keep_resid(self, layer: int):
        def hook(resid, hook):
            self._resid[layer] = resid
            self._heads.pop(layer, None)

        return hook

    def _qkv_hook(self, layer: int, kind: str):
        layout = self.parts.layout
        cols = slice(layout.q_dst(layer).start, layout.v_dst(layer).stop)
        kind_cols = layout.qkv_dst(layer, kind)
        local = slice(kind_cols.start - cols.start, kind_cols.stop - cols.start)
        n_before = layout.n_src_before("q", layer)

        def hook(value, hook):
            if layer not in self._heads:
                resid = self._resid[layer]
                inputs = self._patch(resid, cols, n_before).to(resid.dtype)
                self._heads[layer] = self._project(layer, inputs)
            return self._heads[layer][:, :, local].to(value.dtype)

        return hook

    def _project(self, layer: int, inputs: Float[Tensor, "n_qkv batch pos d_model"]) -> Tensor:
        """Every head's q/k/v from its own (patched) input: the block's norm, then its slice."""
        norm = self.model.blocks[layer].ln1.original_component
        layer_parts = self.parts.layers[layer]
        normed = norm(inputs).float()
        heads = torch.einsum("hbpd,hde->bphe", normed, layer_parts.w_qkv)
        if layer_parts.b_qkv is not None:
            heads = heads + layer_parts.b_qkv
        return heads
