"""The hook switches that attribution analyses need, turned on in one place."""

from __future__ import annotations

from transformer_lens.model_bridge import TransformerBridge


def enable_analysis_hooks(model: TransformerBridge) -> TransformerBridge:
    """Turn on split q/k/v inputs, per-head results and ``hook_mlp_in``; idempotent.

    With these flags ``blocks.L.hook_{q,k,v}_input`` are ``[batch, pos, head, d_model]``,
    ``blocks.L.attn.hook_result`` is ``[batch, pos, head, d_model]`` and
    ``blocks.L.hook_mlp_in`` exists. Analyses call this; users need not.

    Example:
        >>> model = enable_analysis_hooks(load_model("pythia-160m"))  # doctest: +SKIP
    """
    if not model.cfg.use_split_qkv_input:
        model.set_use_split_qkv_input(True)
    if not model.cfg.use_attn_result:
        model.set_use_attn_result(True)
    if not model.cfg.use_hook_mlp_in:
        model.set_use_hook_mlp_in(True)
    return model
