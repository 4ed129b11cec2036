"""A one-screen description of a loaded model."""

from __future__ import annotations

from transformer_lens.model_bridge import TransformerBridge

from mechcirc.parameters import unique_named_parameters


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
        "parameters": sum(p.tensor.numel() for p in unique_named_parameters(model)),
        "parallel_attn_mlp": bool(cfg.parallel_attn_mlp),
        "dtype": str(cfg.dtype).removeprefix("torch."),
        "device": str(next(model.parameters()).device),
    }
