"""Read a head's OV circuit from any model with TransformerLens weight properties.

Works on a TransformerBridge and on a hand-built ``HookedRootModule`` alike: the model needs
``cfg`` (``n_layers``, ``n_heads``, ``d_vocab``, optional ``n_key_value_heads``), ``W_V``,
``W_O``, ``W_U``, optional ``b_V`` and, where it normalises, ``blocks[L].ln1`` and ``ln_final``
modules. Grouped-query attention (``W_V`` with fewer heads than ``W_O``) is expanded so query
head ``h`` reads KV head ``h // (n_heads // n_kv_heads)``, as the model itself does.

Example:
    >>> rep = layer0_representation(model, torch.tensor([464, 3290]))  # doctest: +SKIP
    >>> logits = head_ov_logits(model, layer=1, resid=rep)               # [2, n_heads, d_vocab]
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.models.protocol import HookedModel

__all__ = [
    "check_layer",
    "effective_embedding",
    "expand_kv",
    "final_norm_frozen",
    "head_ov_logits",
    "head_ov_output",
    "layer0_representation",
    "n_kv_heads",
    "norm_kind",
    "normalise",
    "optional_weight",
    "pessimistic_rank",
]


def optional_weight(model, name: str) -> Tensor | None:
    """``model.<name>``, or ``None`` for a bias the checkpoint does not have."""
    try:
        return getattr(model, name)
    except AttributeError:
        return None


def n_kv_heads(model) -> int:
    return getattr(model.cfg, "n_key_value_heads", None) or model.cfg.n_heads


def expand_kv(model, per_kv: Tensor, head_dim: int) -> Tensor:
    """Repeat a per-KV-head tensor along ``head_dim`` so it is indexed by query head."""
    repeats = model.cfg.n_heads // n_kv_heads(model)
    return per_kv if repeats == 1 else per_kv.repeat_interleave(repeats, dim=head_dim)


def check_layer(model, layer: int) -> None:
    if not 0 <= layer < model.cfg.n_layers:
        raise UsageError(f"layer must be in 0..{model.cfg.n_layers - 1}, got {layer}")


def normalise(model, x: Tensor, layer: int | None) -> Tensor:
    """Apply ``blocks[layer].ln1`` (or ``ln_final`` for ``layer=None``) when the model has it."""
    owner, name = (model, "ln_final") if layer is None else (model.blocks[layer], "ln1")
    module = getattr(owner, name, None)
    return x if module is None else module(x)


@torch.no_grad()
def layer0_representation(
    model, tokens: Int[Tensor, " n"], batch_size: int = 256
) -> Float[Tensor, "n d_model"]:
    """Each token's residual stream after block 0 when it is a one-token prompt.

    That is the token embedding plus attention 0 (attending only to the token itself) plus
    MLP 0: the "residual stream after the first MLP layer" of Wang et al. (2022), and Gould
    et al.'s effective embedding, without any other context.
    """
    parts = []
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start : start + batch_size, None].to(model.W_U.device)
        _, cache = model.run_with_cache(
            batch, names_filter=lambda name: name == "blocks.0.hook_resid_post"
        )
        parts.append(cache["blocks.0.hook_resid_post"][:, 0])
    return torch.cat(parts)


@torch.no_grad()
def effective_embedding(
    model: HookedModel, tokens: Int[Tensor, " n"]
) -> Float[Tensor, "n d_model"]:
    """Gould et al.'s effective token embedding ``MLP0(W_E)``: block 0's MLP applied to the
    token embeddings through its own input norm (``ln2``), without the residual.

    A model without an MLP in block 0 (attention-only toys) gives ``W_E`` itself.
    """
    embedded = model.W_E[tokens.to(model.W_E.device)]
    block = model.blocks[0]
    mlp = getattr(block, "mlp", None)
    if mlp is None:
        return embedded
    norm = getattr(block, "ln2", None)
    normed = embedded if norm is None else norm(embedded[None])[0]
    return mlp(normed[None])[0]


@torch.no_grad()
def head_ov_output(
    model, layer: int, resid: Float[Tensor, "n d_model"]
) -> Float[Tensor, "n n_heads d_model"]:
    """What each head of ``layer`` writes when it attends fully to a position holding ``resid``.

    ``ln1`` of the layer, then ``W_V`` (+ ``b_V``, which attention passes through unchanged)
    and ``W_O``; the layer's shared ``b_O`` is not a head's and is left out.
    """
    check_layer(model, layer)
    x = normalise(model, resid, layer)
    w_v = expand_kv(model, model.W_V[layer], head_dim=0)  # [heads, d_model, d_head]
    values = torch.einsum("nm,hme->nhe", x, w_v)
    b_v = optional_weight(model, "b_V")
    if b_v is not None:
        values = values + expand_kv(model, b_v[layer], head_dim=0)
    return torch.einsum("nhe,hem->nhm", values, model.W_O[layer])


@torch.no_grad()
def head_ov_logits(
    model, layer: int, resid: Float[Tensor, "n d_model"]
) -> Float[Tensor, "n n_heads d_vocab"]:
    """Direct logits of each head's OV output: ``ln_final`` then ``W_U`` (no ``b_U``)."""
    return normalise(model, head_ov_output(model, layer, resid), None) @ model.W_U


def pessimistic_rank(
    logits: Float[Tensor, "n vocab"], target: Int[Tensor, " n"]
) -> Int[Tensor, " n"]:
    """How many other entries score at least the target's logit (ties count against it)."""
    chosen = logits.gather(-1, target[:, None])
    return (logits >= chosen).sum(-1) - 1


def norm_kind(model: HookedModel) -> str | None:
    """``"LN"`` (LayerNorm), ``"RMS"`` (RMSNorm) or None (no normalization) of the model."""
    kind = getattr(model.cfg, "normalization_type", None)
    return None if kind is None else ("RMS" if kind.startswith("RMS") else "LN")


def final_norm_frozen(model: HookedModel, x: Tensor, scale: Tensor) -> Tensor:
    """``ln_final`` as a linear map with a run's ``scale`` (``ln_final.hook_scale``) frozen and
    no bias: how a change ``x`` of the final residual moves what the unembedding reads."""
    if norm_kind(model) == "LN":
        x = x - x.mean(-1, keepdim=True)
    norm = getattr(model, "ln_final", None)
    weight = getattr(norm, "weight", None) if norm is not None else None
    x = x / scale
    return x if weight is None else x * weight
