"""Backward side of attribution: edge scores from destination-input gradients, per pass.

For every destination, the gradient of the summed metric with respect to its input (the
residual it reads, before its layer norm) meets the clean - corrupted source differences in
one product per destination group, ``scores[:n_src_before, group] += delta @ grad.T``,
accumulated in float64. Nothing of a pass is kept after its backward.

Gradients are taken as tensor hooks registered during the forward:

- q/k/v of layer ``L``: the gradient at ``hook_q`` / ``hook_k`` / ``hook_v`` (per query head;
  per KV head for grouped-query attention) is carried back through that head's slice of the
  projection and the norm
  (:func:`~mechcirc.analyses.eap.model_parts.qkv_input_gradients`) once the gradient at the
  norm's input is complete, i.e. once all three have arrived;
- ``m{L}``: the gradient at ``ln2.hook_in`` (a view, so the residual's other readers are
  excluded);
- ``logits``: the gradient at ``ln_final.hook_in``.

Example:
    >>> grads = EdgeGradients(parts, delta, scores)                   # doctest: +SKIP
    >>> run_metric(model, tokens, pairs, grads.hooks()).sum().backward()  # doctest: +SKIP
"""

from __future__ import annotations

from functools import partial

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.analyses.eap.forward import Hook
from mechcirc.analyses.eap.model_parts import ModelParts, qkv_input_gradients

__all__ = ["EdgeGradients"]


class EdgeGradients:
    """Hooks adding ``delta[rows] . grad`` to ``scores[rows]`` for every destination.

    Args:
        parts: the model's weights and layout.
        delta: ``[n_src, batch, pos, d_model]`` clean - corrupted source activations; read
            at backward time, so it may still be filled during the forward.
        scores: ``[n_src, n_dst]`` float64 accumulator.
        rows: the sources whose outgoing edges this pass scores (default: all).
    """

    def __init__(
        self,
        parts: ModelParts,
        delta: Float[Tensor, "n_src batch pos d_model"],
        scores: Float[Tensor, "n_src n_dst"],
        rows: slice | None = None,
    ) -> None:
        self.parts, self.delta, self.scores = parts, delta, scores
        self.rows = rows or slice(0, parts.layout.n_src)
        self._saved: dict[tuple[int, str], Tensor] = {}
        self._sums: Tensor | None = None
        self._buffer: Tensor | None = None

    def hooks(self) -> list[Hook]:
        hooks: list[Hook] = []
        layout = self.parts.layout
        for layer in range(layout.n_layers):
            prefix = f"blocks.{layer}"
            for kind in ("q", "k", "v"):
                hooks.append((f"{prefix}.attn.hook_{kind}", self._keep_grad(layer, kind)))
            for kind in ("normalized", "scale"):
                hooks.append((f"{prefix}.ln1.hook_{kind}", self._keep_value(layer, kind)))
            qkv = partial(self._qkv, layer)
            hooks.append(
                (f"{prefix}.ln1.hook_in", self._on_grad(qkv, layout.n_src_before("q", layer)))
            )
            n_mlp = layout.n_src_before("mlp", layer)
            mlp = partial(self._add_single, n_mlp, layout.mlp_dst(layer))
            hooks.append((f"{prefix}.ln2.hook_in", self._on_grad(mlp, n_mlp)))
        logits = partial(self._add_single, layout.n_src, layout.logits_dst)
        hooks.append(("ln_final.hook_in", self._on_grad(logits, layout.n_src)))
        return hooks

    # ---- forward-time hooks ----------------------------------------------------------------
    def _reads_rows(self, n_before: int) -> bool:
        return self.rows.start < n_before

    def _keep_value(self, layer: int, kind: str):
        def hook(value, hook):
            self._saved[layer, kind] = value.detach()

        return hook

    def _keep_grad(self, layer: int, kind: str):
        # The hook must return the tensor it hooks: the bridge shows hooks a reshaped copy of
        # q/k/v and only a returned value joins the computation.
        def hook(value, hook):
            if not value.requires_grad:
                return None
            branch = value.view_as(value)
            branch.register_hook(lambda g: self._saved.__setitem__((layer, kind), g))
            return branch

        return hook

    def _on_grad(self, fn, n_before: int):
        """A hook that branches the residual (a view) and calls ``fn`` with its gradient."""

        def hook(value, hook):
            if not (value.requires_grad and self._reads_rows(n_before)):
                return None
            branch = value.view_as(value)
            branch.register_hook(lambda g: fn(g.detach()))
            return branch

        return hook

    # ---- backward-time work ----------------------------------------------------------------
    def _qkv(self, layer: int, _grad_in: Tensor) -> None:
        layout = self.parts.layout
        grads = [self._saved.pop((layer, kind), None) for kind in ("q", "k", "v")]
        normalized = self._saved.pop((layer, "normalized"))
        scale = self._saved.pop((layer, "scale"))
        if any(g is None for g in grads):
            return
        grad_heads = torch.cat(grads, dim=2)
        grad_in, grad_mean = qkv_input_gradients(
            grad_heads, normalized, scale, self.parts.layers[layer], self._workspace(grad_heads)
        )
        cols = slice(layout.q_dst(layer).start, layout.v_dst(layer).stop)
        n_before = layout.n_src_before("q", layer)
        self._add(n_before, cols, grad_in)
        if grad_mean is not None:
            rows = self._rows(n_before)
            self.scores[rows, cols] -= (self._delta_sums()[rows] @ grad_mean.T).double()

    def _workspace(self, grad_heads: Tensor) -> Tensor:
        """One reused ``[n_qkv, batch*pos, d_model]`` buffer for every layer and pass."""
        batch, pos, n_qkv, _ = grad_heads.shape
        shape = (n_qkv, batch * pos, self.parts.d_model)
        if self._buffer is None or self._buffer.shape != shape:
            self._buffer = grad_heads.new_empty(shape, dtype=torch.float32)
        return self._buffer

    def _rows(self, n_before: int) -> slice:
        return slice(self.rows.start, max(self.rows.start, min(self.rows.stop, n_before)))

    def _delta_sums(self) -> Float[Tensor, "n_src batch_pos"]:
        """Each source difference summed over d_model (computed once, at the first backward)."""
        if self._sums is None:
            self._sums = self.delta.sum(-1).reshape(self.delta.shape[0], -1)
        return self._sums

    def _add_single(self, n_before: int, col: int, grad: Float[Tensor, "batch pos d_model"]):
        self._add(n_before, col, grad[None])

    def _add(self, n_before: int, cols: slice | int, grad: Float[Tensor, "n ..."]) -> None:
        rows = self._rows(n_before)
        if rows.start == rows.stop:
            return
        delta = self.delta[rows].reshape(rows.stop - rows.start, -1)
        update = (grad.float().reshape(grad.shape[0], -1) @ delta.T).T
        if isinstance(cols, int):
            update = update[:, 0]
        self.scores[rows, cols] += update.double()
