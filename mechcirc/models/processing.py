"""HookedTransformer's weight processing, done in place, one layer at a time.

TransformerLens 4.3's ``enable_compatibility_mode()`` folds the layer norms into the weights
that read them, centres the weights that write to the residual stream and the unembedding, and
folds the value biases into the output bias (``ProcessWeights.process_weights``). It does so on a
state dict that ``fold_layer_norm``, ``center_unembed`` and ``fold_value_biases`` each clone
whole, so loading a model peaks at about four copies of its weights. This module computes the
same weights by rewriting every tensor where it lives: each step touches one layer's tensors
(or the embedding / unembedding) and allocates only vectors, so processing costs no memory
beyond the weights themselves. Tensors are kept as they are (same ``Parameter`` objects), so
references to them stay valid.

The architectures done here are those whose results are checked against TransformerLens's own
processing in ``tests/models/test_processing.py`` (GPT-NeoX / Pythia, GPT-2, Llama);
:func:`in_place_supported` says whether a bridge is one of them, and ``load_model`` uses
TransformerLens's processing for any other.

Example:
    >>> bridge.enable_compatibility_mode(no_processing=True)   # doctest: +SKIP
    >>> if in_place_supported(bridge):                          # doctest: +SKIP
    ...     process_weights_in_place(bridge)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from transformer_lens.utilities.activation_functions import softcap_enabled

__all__ = ["IN_PLACE_ADAPTERS", "in_place_supported", "process_weights_in_place"]

# Architecture adapters whose processing here is tested equal to TransformerLens's.
IN_PLACE_ADAPTERS = frozenset(
    {"NeoxArchitectureAdapter", "GPT2ArchitectureAdapter", "LlamaArchitectureAdapter"}
)


def in_place_supported(bridge) -> bool:
    """Whether :func:`process_weights_in_place` handles ``bridge``'s architecture."""
    cfg = bridge.cfg
    return (
        type(bridge.adapter).__name__ in IN_PLACE_ADAPTERS
        and getattr(cfg, "normalization_type", None) in ("LN", "RMS")
        and not getattr(cfg, "num_experts", None)
        and not softcap_enabled(getattr(cfg, "output_logits_soft_cap", None))
    )


@dataclass(frozen=True)
class _Linear:
    """A linear layer seen as ``weight [out, in]`` (nn.Linear as is, GPT-2's Conv1D transposed)."""

    module: nn.Module

    @property
    def weight(self) -> torch.Tensor:
        weight = self.module.weight
        return weight if isinstance(self.module, nn.Linear) else weight.T

    @property
    def bias(self) -> torch.Tensor | None:
        return getattr(self.module, "bias", None)

    def ensure_bias(self) -> torch.Tensor:
        """The bias, created as zeros where the layer has none (TransformerLens does the same)."""
        if self.bias is None:
            weight = self.weight
            zeros = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
            self.module.bias = nn.Parameter(zeros, requires_grad=weight.requires_grad)
        return self.bias


@contextmanager
def _float32(tensor: torch.Tensor) -> Iterator[torch.Tensor]:
    """``tensor`` itself if float32, else a float32 copy written back on exit (as TL upcasts)."""
    if tensor.dtype == torch.float32:
        yield tensor
        return
    work = tensor.float()
    yield work
    tensor.copy_(work)


def process_weights_in_place(bridge) -> None:
    """Fold layer norms, centre writing weights and unembedding, fold value biases, in place.

    Equal (to float rounding) to ``bridge.enable_compatibility_mode()``'s default processing
    (``fold_ln``, ``center_writing_weights``, ``center_unembed``, ``fold_value_biases``), on a
    bridge put in compatibility mode with ``no_processing=True``. LayerNorm models get biases
    folded and readers centred; RMSNorm models only have the norm scales folded, as in
    TransformerLens. Marks the bridge processed, so TransformerLens will not process it again.

    Raises:
        ValueError: for an architecture :func:`in_place_supported` does not accept.
    """
    if not in_place_supported(bridge):
        raise ValueError(f"in-place weight processing does not handle {type(bridge.adapter)}")
    layer_norm = bridge.cfg.normalization_type == "LN"
    centre_writers = layer_norm and not getattr(bridge.cfg, "final_rms", False)
    with torch.no_grad():
        _untie_unembed(bridge)  # before the embedding is centred
        for block in bridge.blocks:
            _process_block(bridge.cfg, block, layer_norm, centre_writers)
        if centre_writers:
            _centre_embeddings(bridge)
        _process_unembed(bridge, layer_norm)
    bridge._weights_processed = True


def _process_block(cfg, block, layer_norm: bool, centre_writers: bool) -> None:
    """One block: ln1 into q/k/v, ln2 into the MLP's inputs (sequential or parallel blocks
    alike), the writers centred, the value bias folded into the output bias."""
    attn, mlp = block.attn, block.mlp
    _fold_norm(cfg, block.ln1, [(_part(attn, name), True) for name in "qkv"], layer_norm)
    # the MLP's input projections; the gate is not centred (as in TransformerLens)
    mlp_readers = [(_part(mlp, "in"), True)]
    if "gate" in mlp.submodules:
        mlp_readers.append((_part(mlp, "gate"), False))
    _fold_norm(cfg, block.ln2, mlp_readers, layer_norm)
    out = _part(attn, "o")
    if centre_writers:
        _centre_writer(out)
        _centre_writer(_part(mlp, "out"))
    _fold_value_bias(cfg, _part(attn, "v"), out, centre_writers)


def _part(component, name: str) -> _Linear:
    """A bridge component's linear submodule ``name`` (``q``, ``o``, ``in``, ...)."""
    return _Linear(component.submodules[name].original_component)


def _fold_norm(cfg, norm_bridge, readers: list[tuple[_Linear, bool]], layer_norm: bool) -> None:
    """Fold a norm's scale (and, for LayerNorm, its shift) into the layers that read it."""
    norm = norm_bridge.original_component
    offset = not layer_norm and bool(getattr(cfg, "rmsnorm_uses_offset", False))
    shift = getattr(norm, "bias", None) if layer_norm else None
    scale = norm.weight.float() + 1.0 if offset else norm.weight.float()
    for reader, centred in readers:
        with _float32(reader.weight) as weight:
            if shift is not None:
                with _float32(reader.ensure_bias()) as bias:
                    bias.add_(weight @ shift.float())
            weight.mul_(scale)
            if layer_norm and centred:
                weight.sub_(weight.mean(-1, keepdim=True))
    norm.weight.fill_(0.0 if offset else 1.0)
    if shift is not None:
        shift.zero_()


def _centre_writer(layer: _Linear) -> None:
    """Make what a layer writes to the residual stream mean-zero over ``d_model``."""
    with _float32(layer.weight) as weight:
        weight.sub_(weight.mean(0, keepdim=True))
    if layer.bias is not None:
        with _float32(layer.bias) as bias:
            bias.sub_(bias.mean())


def _fold_value_bias(cfg, value: _Linear, out: _Linear, centre: bool) -> None:
    """``b_O += W_O b_V`` (each head's value bias through its output matrix), then ``b_V = 0``.

    Attention patterns sum to one, so a value bias adds a constant to the layer's output.
    """
    if value.bias is None:
        return
    b_v = value.bias.float()
    n_heads, n_kv = cfg.n_heads, getattr(cfg, "n_key_value_heads", None) or cfg.n_heads
    if n_kv != n_heads:  # grouped-query attention: each KV head serves n_heads / n_kv heads
        b_v = b_v.view(n_kv, -1).repeat_interleave(n_heads // n_kv, dim=0).flatten()
    with _float32(out.weight) as weight, _float32(out.ensure_bias()) as bias:
        bias.add_(weight @ b_v)
        if centre:
            bias.sub_(bias.mean())
    value.bias.zero_()


def _centre_embeddings(bridge) -> None:
    """Centre the token (and learned position) embeddings over ``d_model``."""
    tables = [bridge.embed]
    if bridge.cfg.positional_embedding_type == "standard" and hasattr(bridge, "pos_embed"):
        tables.append(bridge.pos_embed)
    for table in tables:
        with _float32(table.original_component.weight) as weight:
            weight.sub_(weight.mean(-1, keepdim=True))


def _process_unembed(bridge, layer_norm: bool) -> None:
    """Fold the final norm into the unembedding, then centre it over ``d_model`` and the vocab."""
    unembed = bridge.unembed.original_component
    weight_param, bias = unembed.weight, unembed.bias
    norm = bridge.ln_final.original_component
    final_rms = bool(getattr(bridge.cfg, "final_rms", False))
    offset = not layer_norm and bool(getattr(bridge.cfg, "rmsnorm_uses_offset", False))
    shift = getattr(norm, "bias", None)
    with _float32(weight_param) as weight:
        if layer_norm and not final_rms and bias is not None and shift is not None:
            with _float32(bias) as bias32:
                bias32.add_(weight @ shift.float())
            shift.zero_()
        weight.mul_(norm.weight.float() + 1.0 if offset else norm.weight.float())
        norm.weight.fill_(0.0 if offset else 1.0)
        if layer_norm and not final_rms:
            weight.sub_(weight.mean(-1, keepdim=True))
        weight.sub_(weight.mean(0, keepdim=True))
    if bias is not None:
        with _float32(bias) as bias32:
            bias32.sub_(bias32.mean())


def _untie_unembed(bridge) -> None:
    """Give the unembedding its own weight if it shares the embedding's (GPT-2)."""
    unembed = bridge.unembed.original_component
    embed_weight = bridge.embed.original_component.weight
    if unembed.weight.data_ptr() == embed_weight.data_ptr():
        unembed.weight = nn.Parameter(
            unembed.weight.detach().clone(), requires_grad=unembed.weight.requires_grad
        )
