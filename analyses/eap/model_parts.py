"""What attribution reads from a TransformerBridge: per-layer weights, norms and hook names.

Edge scores need the gradient of the metric with respect to each head's query / key / value
*input* (the residual the head reads before its layer norm). TransformerLens's split-qkv mode
gives it by copying the residual per head (``[batch, pos, head, d_model]`` per q/k/v per
layer, kept for backward); we instead take the gradient at ``hook_q`` / ``hook_k`` /
``hook_v`` (``[batch, pos, head, d_head]``) and carry it back through that head's slice of
``W_Q`` / ``W_K`` / ``W_V`` and the layer norm by hand (:func:`qkv_input_gradients`), which is
cheap and keeps nothing alive between passes.

Example:
    >>> parts = ModelParts.from_model(model)   # doctest: +SKIP
    >>> parts.layers[0].w_qkv.shape             # doctest: +SKIP
    torch.Size([8, 32, 8])                       # 4 query heads + 2 key + 2 value (GQA)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.graph import GraphLayout

__all__ = [
    "LayerParts",
    "ModelParts",
    "NormInfo",
    "frozen_parameters",
    "qkv_input_gradients",
]


def _optional_param(module, name: str) -> Tensor | None:
    """A bias the bridge raises AttributeError for when the checkpoint has none."""
    try:
        value = getattr(module, name)
    except AttributeError:
        return None
    return value.detach() if isinstance(value, Tensor) else None


@dataclass(frozen=True)
class NormInfo:
    """How a block's pre-attention norm maps its input to ``normalized * weight + bias``."""

    rms: bool
    weight: Float[Tensor, " d_model"] | None

    @classmethod
    def from_module(cls, norm) -> NormInfo:
        weight = _optional_param(norm, "weight")
        if weight is not None and getattr(norm, "uses_weight_offset", False):
            weight = 1.0 + weight
        rms = bool(getattr(norm, "uses_rms_norm", False))
        return cls(rms=rms, weight=None if weight is None else weight.float())


@dataclass(frozen=True)
class LayerParts:
    """One block's attention weights, stacked in the graph's q, k, v destination order.

    ``w_qkv_in`` is ``w_qkv`` with the norm's weight folded in (``weight[d] * W[h, d, e]``)
    and ``w_qkv_in_sum`` its sum over ``d_model``: what the input-gradient formula needs.
    """

    w_qkv: Float[Tensor, "n_qkv d_model d_head"]
    b_qkv: Float[Tensor, "n_qkv d_head"] | None
    w_o: Float[Tensor, "n_heads d_head d_model"]
    norm: NormInfo
    w_qkv_in: Float[Tensor, "n_qkv d_head d_model"]
    w_qkv_in_sum: Float[Tensor, "n_qkv d_head"]


@dataclass(frozen=True)
class ModelParts:
    """Per-layer weights (float32 copies, detached) and the model's graph layout."""

    layout: GraphLayout
    layers: tuple[LayerParts, ...]
    d_model: int

    @classmethod
    def from_model(cls, model) -> ModelParts:
        layout = GraphLayout.from_model(model)
        if layout.n_heads % layout.n_kv_heads:
            raise UsageError(
                f"n_heads ({layout.n_heads}) must be a multiple of n_kv_heads ({layout.n_kv_heads})"
            )
        return cls(layout, tuple(_layer_parts(block) for block in model.blocks), model.cfg.d_model)


def _layer_parts(block) -> LayerParts:
    attn = block.attn
    with torch.no_grad():
        w_qkv = torch.cat([attn.W_Q, attn.W_K, attn.W_V]).detach().float()
        biases = [_optional_param(attn, f"b_{kind}") for kind in "QKV"]
        b_qkv = None
        if any(b is not None for b in biases):
            sizes = (attn.W_Q.shape[0], attn.W_K.shape[0], attn.W_V.shape[0])
            b_qkv = torch.cat(
                [
                    b.float() if b is not None else w_qkv.new_zeros(n, w_qkv.shape[-1])
                    for b, n in zip(biases, sizes, strict=True)
                ]
            )
        norm = NormInfo.from_module(block.ln1)
        w_in = w_qkv if norm.weight is None else w_qkv * norm.weight[None, :, None]
        w_in = w_in.transpose(1, 2).contiguous()
        return LayerParts(w_qkv, b_qkv, attn.W_O.detach().float(), norm, w_in, w_in.sum(-1))


def qkv_input_gradients(
    grad_heads: Float[Tensor, "batch pos n_qkv d_head"],
    normalized: Float[Tensor, "batch pos d_model"],
    scale: Float[Tensor, "batch pos 1"],
    layer: LayerParts,
    out: Float[Tensor, "n_qkv batch_pos d_model"] | None = None,
) -> tuple[Float[Tensor, "n_qkv batch_pos d_model"], Float[Tensor, "n_qkv batch_pos"] | None]:
    """Per-head gradients at the norm's input, from the gradients at ``hook_q/k/v``.

    For one head, with ``u = (weight * W_h g_h) / scale`` (the gradient at the norm's output,
    times its weight, over its scale), the gradient at the input is
    ``u - mean(u) - normalized * mean(u * normalized)`` (LayerNorm; RMSNorm has no
    ``mean(u)`` term). The first and last terms are returned as one ``[n_qkv, batch*pos,
    d_model]`` tensor (written into ``out`` when given: fresh large buffers cost page
    faults); the ``mean(u)`` term is returned as ``[n_qkv, batch*pos]`` because a score only
    needs it times the source difference's sum over ``d_model``, the same in every pass.
    One batched matrix product, one batched dot product and one in-place update: no
    ``[n_qkv, batch, pos, d_model]`` elementwise chain.
    """
    batch, pos, n_qkv, _ = grad_heads.shape
    d_model = normalized.shape[-1]
    g = (grad_heads.float() / scale.float()[..., None]).reshape(batch * pos, n_qkv, -1)
    g = g.transpose(0, 1)  # [n_qkv, batch*pos, d_head]
    u = torch.bmm(g, layer.w_qkv_in, out=out)  # [n_qkv, batch*pos, d_model]
    normalized = normalized.float().reshape(batch * pos, d_model)
    along = torch.bmm(u.transpose(0, 1), normalized[:, :, None])[..., 0].T / d_model
    u.addcmul_(normalized[None], along[..., None], value=-1.0)
    mean = None if layer.norm.rms else (g * layer.w_qkv_in_sum[:, None]).sum(-1) / d_model
    return u, mean


@contextmanager
def frozen_parameters(model) -> Iterator[None]:
    """No weight gradients while attributing: ``requires_grad_(False)``, restored after."""
    params = {id(p): p for p in model.parameters()}.values()
    previous = [(p, p.requires_grad) for p in params]
    try:
        for p, _ in previous:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in previous:
            p.requires_grad_(flag)


@contextmanager
def unsplit_qkv_inputs(model) -> Iterator[None]:
    """TransformerLens's split q/k/v input mode off, restored after.

    Attribution and patching read each head's q/k/v input at its block's norm
    (``ln1.hook_in``) and at ``hook_q`` / ``hook_k`` / ``hook_v``. With split inputs (switched
    on by ``enable_analysis_hooks``, e.g. by path patching on the same model) the heads read
    per-head copies of the residual that those hooks do not see: edges into heads then scored
    0 and every circuit's faithfulness came out near 0.
    """
    split = bool(getattr(model.cfg, "use_split_qkv_input", False))
    if split:
        model.set_use_split_qkv_input(False)
    try:
        yield
    finally:
        if split:
            model.set_use_split_qkv_input(True)


@contextmanager
def attribution_mode(model) -> Iterator[None]:
    """``frozen_parameters`` and ``unsplit_qkv_inputs`` together, as every pass here needs."""
    with frozen_parameters(model), unsplit_qkv_inputs(model):
        yield
