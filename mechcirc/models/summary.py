"""A one-screen description of a loaded model."""

from __future__ import annotations

from transformer_lens.model_bridge import TransformerBridge


def unique_parameters(model: TransformerBridge) -> list:
    """Leaf parameters without aliases (TransformerLens 4 also exposes q/k/v views of qkv)."""
    seen: set[int] = set()
    unique = []
    for param in model.original_model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            unique.append(param)
    return unique


def model_summary(model: TransformerBridge) -> dict[str, object]:
    """Resolved id and revision, shape, parameter count and residual layout."""
    cfg = model.cfg
    source = getattr(model, "mechcirc_source", None)
    return {
        "model_id": source.model_id if source else cfg.model_name,
        "revision": (source.revision or "main") if source else "-",
        "commit": (source.commit or "-") if source else "-",
        "architecture": cfg.architecture or cfg.original_architecture,
        "n_layers": cfg.n_layers,
        "n_heads": cfg.n_heads,
        "n_kv_heads": cfg.n_key_value_heads or cfg.n_heads,
        "d_model": cfg.d_model,
        "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp,
        "d_vocab": cfg.d_vocab,
        "n_ctx": cfg.n_ctx,
        "parameters": sum(p.numel() for p in unique_parameters(model)),
        "parallel_attn_mlp": bool(cfg.parallel_attn_mlp),
        "dtype": str(cfg.dtype).removeprefix("torch."),
        "device": str(next(model.parameters()).device),
    }
