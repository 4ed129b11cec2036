"""The hook switches that per-head analyses need, on for a block and restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mechcirc.models.protocol import HookedModel

__all__ = ["HOOK_SWITCHES", "enable_analysis_hooks", "hook_switches"]

# cfg flag -> the bridge's setter; the flags analyses rely on.
HOOK_SWITCHES = {
    "use_split_qkv_input": "set_use_split_qkv_input",
    "use_attn_result": "set_use_attn_result",
    "use_hook_mlp_in": "set_use_hook_mlp_in",
}


def hook_switches(model: HookedModel) -> dict[str, bool]:
    """The current value of every switch in :data:`HOOK_SWITCHES` (absent flags read False)."""
    return {flag: bool(getattr(model.cfg, flag, False)) for flag in HOOK_SWITCHES}


@contextmanager
def enable_analysis_hooks(model: HookedModel) -> Iterator[HookedModel]:
    """Turn on split q/k/v inputs, per-head results and ``hook_mlp_in`` inside the block; the
    model's previous switches come back on exit (these hooks slow every forward pass).

    Inside, ``blocks.L.hook_{q,k,v}_input`` and ``blocks.L.attn.hook_result`` are
    ``[batch, pos, head, d_model]`` and ``blocks.L.hook_mlp_in`` exists. Models without the
    switches (hand-built hooked modules) pass through unchanged. Nested uses are fine.

    Example:
        >>> with enable_analysis_hooks(model):                              # doctest: +SKIP
        ...     _, cache = model.run_with_cache(ids, names_filter="blocks.0.attn.hook_result")
    """
    before = hook_switches(model)
    present = {f: s for f, s in HOOK_SWITCHES.items() if hasattr(model, s)}
    try:
        for flag, setter in present.items():
            if not before[flag]:
                getattr(model, setter)(True)
        yield model
    finally:
        for flag, setter in present.items():
            if bool(getattr(model.cfg, flag, False)) != before[flag]:
                getattr(model, setter)(before[flag])
