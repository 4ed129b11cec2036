"""One description of a model for screens and run manifests: bridges and toy modules alike."""

from __future__ import annotations

from typing import Any

from torch import nn

from mechcirc.parameters import unique_named_parameters

__all__ = ["describe_model", "model_summary"]


def model_summary(model: nn.Module) -> dict[str, object]:
    """Resolved id and revision, shape, parameter count and residual layout of a bridge."""
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
        "parameters": parameter_count(model),
        "parallel_attn_mlp": bool(cfg.parallel_attn_mlp),
        "dtype": str(cfg.dtype).removeprefix("torch."),
        "device": str(next(model.parameters()).device),
    }


def parameter_count(model: nn.Module) -> int:
    """Parameters of ``model``, each underlying tensor counted once."""
    return sum(p.tensor.numel() for p in unique_named_parameters(model))


def describe_model(model: nn.Module, **facts: Any) -> dict[str, Any]:
    """The manifest's ``model`` entry: id, requested revision, resolved commit, architecture,
    parameter count; for a toy module its class, parameters and config. ``facts`` are added
    (e.g. ``toy="grokking"``).

    Example:
        >>> import torch
        >>> describe_model(torch.nn.Linear(2, 3))["parameters"]
        9
    """
    if hasattr(model, "mechcirc_source") or type(model).__name__ == "TransformerBridge":
        described: dict[str, Any] = dict(model_summary(model))
        source = getattr(model, "mechcirc_source", None)
        described["requested_revision"] = getattr(source, "revision", None)
        described["name"] = getattr(source, "name", None)
    else:
        config = getattr(model, "cfg", None) or getattr(model, "config", None)
        described = {
            "model_id": f"toy:{type(model).__name__}",
            "revision": None,
            "commit": None,
            "architecture": type(model).__name__,
            "parameters": parameter_count(model),
            "config": config.to_dict() if hasattr(config, "to_dict") else None,
        }
    return {**described, **facts}
