"""Path patching (Wang et al. 2022) on one batch: a sender head's effect on given receivers only.

For a batch of clean and corrupted prompts, :class:`PathPatcher` caches every head's ``hook_z``
(and ``hook_mlp_out``) on both. :meth:`PathPatcher.run` then

1. runs the clean prompts with the senders' ``hook_z`` taken from the corrupted run and every
   other head (and, with ``freeze_mlps``, every MLP) frozen at its clean value, recording the
   receivers' inputs: ``blocks.L.hook_{q,k,v}_input`` of the receiver heads, or the final
   residual stream for ``logits``;
2. runs the clean prompts with only those receiver inputs replaced by the recorded ones (at
   every position, or only at one position per prompt) and returns its logits, plus any
   activations asked for (e.g. the receivers' attention patterns).

With ``freeze_mlps`` (the default) everything but the senders is frozen, so step 1 is exact
arithmetic: each receiver input is its clean value plus ``(z_corrupted - z_clean) W_O`` of
every sender upstream of it. :class:`PathPatcher` computes it that way (no forward pass), and
for ``logits`` alone it unembeds the patched final residual without step 2's forward either
(tests check both against the two-run definition).

Nodes use the EAP-IG names of ``GraphLayout``: senders ``a{L}.h{H}``, receivers
``a{L}.h{H}<q>`` / ``<k>`` / ``<v>`` or ``logits``. With grouped-query attention ``<k>`` and
``<v>`` name KV heads. Call it inside :func:`~mechcirc.models.hooks.enable_analysis_hooks`.

Example:
    >>> with enable_analysis_hooks(model):                                   # doctest: +SKIP
    ...     patcher = PathPatcher(model, clean_tokens, corrupted_tokens)
    ...     logits, _ = patcher.run([(0, 1)], receiver_groups(layout, ["a3.h0<q>"]))
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.graph.layout import GraphLayout
from mechcirc.models.protocol import HookedModel

__all__ = [
    "PathPatcher",
    "check_senders",
    "head_name",
    "parse_head",
    "receiver_groups",
    "receiver_layer",
    "unembed",
]

_HEAD = re.compile(r"^a(\d+)\.h(\d+)$")
_INPUT = re.compile(r"^a(\d+)\.h(\d+)<([qkv])>$")

Receivers = dict[str, list[int]]  # hook name -> head indices ([] = the whole final residual)


def parse_head(name: str) -> tuple[int, int]:
    """``"a3.h1"`` -> ``(3, 1)``."""
    match = _HEAD.match(name)
    if not match:
        raise UsageError(f"sender heads look like 'a0.h1', got {name!r}")
    return int(match[1]), int(match[2])


def head_name(layer: int, head: int) -> str:
    return f"a{layer}.h{head}"


def receiver_groups(layout: GraphLayout, receivers: Sequence[str]) -> Receivers:
    """Receiver hook name -> head indices to replace (``[]`` for the final residual)."""
    if not receivers:
        raise UsageError("give at least one receiver: a{L}.h{H}<q|k|v> or logits")
    groups: dict[str, list[int]] = defaultdict(list)
    for name in receivers:
        layout.dst_index(name)  # validates the name and its ranges
        if name == "logits":
            groups[f"blocks.{layout.n_layers - 1}.hook_resid_post"] = []
            continue
        match = _INPUT.match(name)
        if not match:
            raise UsageError(
                f"receivers must be head inputs a{{L}}.h{{H}}<q|k|v> or logits: {name!r}"
            )
        groups[f"blocks.{match[1]}.hook_{match[3]}_input"].append(int(match[2]))
    return dict(groups)


def receiver_layer(hook_name: str, n_layers: int) -> int:
    """The layer a receiver hook belongs to (``n_layers`` for the final residual)."""
    layer = int(hook_name.split(".")[1])
    return n_layers if hook_name.endswith("hook_resid_post") else layer


def check_senders(layout: GraphLayout, senders: Sequence[str] | None, first: int) -> list[str]:
    """``senders`` validated as heads upstream of layer ``first`` (None: every such head)."""
    if senders is None:
        if first == 0:
            raise UsageError("receivers in layer 0 have no sender heads upstream of them")
        return [head_name(layer, head) for layer in range(first) for head in range(layout.n_heads)]
    if not senders:
        raise UsageError("give at least one sender head a{L}.h{H} (or None for all upstream)")
    for name in senders:
        layout.src_index(name)
        layer, _ = parse_head(name)
        if layer >= first:
            raise UsageError(
                f"sender {name} is not upstream of every receiver (receivers start at layer "
                f"{first}); senders must be in earlier layers"
            )
    return list(senders)


class PathPatcher:
    """Clean and corrupted caches of one batch, and path-patched runs from them (module doc)."""

    def __init__(
        self,
        model: HookedModel,
        clean: Int[Tensor, "batch pos"],
        corrupted: Int[Tensor, "batch pos"],
        *,
        freeze_mlps: bool = True,
        receivers: Receivers | None = None,
    ):
        self.model, self.clean_tokens, self.freeze_mlps = model, clean, freeze_mlps
        n_layers = model.cfg.n_layers
        frozen = {f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)}
        if freeze_mlps:
            frozen |= {f"blocks.{layer}.hook_mlp_out" for layer in range(n_layers)}
        frozen &= set(model.hook_dict)
        inputs = set(receivers or {}) if freeze_mlps else set()
        with torch.no_grad():
            self.clean_logits, cache = model.run_with_cache(
                clean, names_filter=lambda n: n in frozen | inputs
            )
            self.corrupted_logits, self.corrupted = model.run_with_cache(
                corrupted, names_filter=lambda n: n in frozen
            )
        self.clean = {name: cache[name] for name in frozen}
        self.inputs = {name: cache[name] for name in inputs}

    @torch.no_grad()
    def answer_logits(
        self, senders: Sequence[tuple[int, int]], positions: Int[Tensor, " batch"]
    ) -> Float[Tensor, "batch vocab"]:
        """Logits at one position per prompt after patching ``senders`` -> ``logits`` (the
        final residual must have been named as a receiver at construction)."""
        final = f"blocks.{self.model.cfg.n_layers - 1}.hook_resid_post"
        resid = self.patched_input(final, senders)
        rows = torch.arange(len(resid), device=resid.device)
        return unembed(self.model, resid[rows, positions])

    @torch.no_grad()
    def run(
        self,
        senders: Sequence[tuple[int, int]],
        receivers: Receivers,
        *,
        positions: Int[Tensor, " batch"] | None = None,
        capture: Sequence[str] = (),
    ) -> tuple[Float[Tensor, "batch pos vocab"], dict[str, Tensor]]:
        """Logits after patching ``senders`` -> ``receivers`` (at ``positions`` only, if
        given), and the activations named in ``capture`` from that run. Receivers must have
        been named at construction for the exact shortcut (module docstring)."""
        if self.freeze_mlps and set(receivers) <= set(self.inputs):
            recorded = {name: self.patched_input(name, senders) for name in receivers}
            final = f"blocks.{self.model.cfg.n_layers - 1}.hook_resid_post"
            if set(receivers) == {final} and positions is None and not capture:
                return unembed(self.model, recorded[final]), {}
        else:
            recorded = {}
            hooks = self._frozen_hooks(senders)
            hooks += [(name, _recorder(recorded, name)) for name in receivers]
            self.model.run_with_hooks(self.clean_tokens, fwd_hooks=hooks)
        captured: dict[str, Tensor] = {}
        hooks = _replace_receivers(recorded, receivers, positions)
        hooks += [(name, _recorder(captured, name)) for name in capture]
        logits = self.model.run_with_hooks(self.clean_tokens, fwd_hooks=hooks)
        return logits, captured

    def patched_input(self, name: str, senders: Sequence[tuple[int, int]]) -> Tensor:
        """The receiver input ``name`` (cached at construction) when only ``senders`` carry
        the corrupted output: the exact first run of path patching with MLPs frozen."""
        value = self.inputs[name].clone()
        for layer, head in senders:
            if layer >= receiver_layer(name, self.model.cfg.n_layers):
                continue
            z = f"blocks.{layer}.attn.hook_z"
            delta = (self.corrupted[z][:, :, head] - self.clean[z][:, :, head]) @ self.model.W_O[
                layer, head
            ]
            value += delta[:, :, None] if value.ndim == 4 else delta
        return value

    def _frozen_hooks(self, senders: Sequence[tuple[int, int]]):
        by_layer: dict[int, list[int]] = defaultdict(list)
        for layer, head in senders:
            by_layer[layer].append(head)
        hooks = []
        for name in self.clean:
            layer = int(name.split(".")[1])
            if name.endswith("attn.hook_z") and layer in by_layer:
                hooks.append(
                    (name, _patch_heads(self.clean, self.corrupted, name, by_layer[layer]))
                )
            else:
                hooks.append((name, _frozen(self.clean, name)))
        return hooks


def unembed(model: HookedModel, resid: Float[Tensor, "*batch d_model"]) -> Tensor:
    """Logits of a final residual stream: ``ln_final`` (if any), ``W_U`` and ``b_U``."""
    norm = getattr(model, "ln_final", None)
    x = resid if norm is None else norm(resid)
    logits = x @ model.W_U
    bias = getattr(model, "b_U", None)
    return logits if bias is None else logits + bias


def _frozen(source, name: str):
    def hook(value: Tensor, hook) -> Tensor:
        return source[name]

    return hook


def _patch_heads(clean, corrupted, name: str, heads: list[int]):
    def hook(value: Tensor, hook) -> Tensor:
        patched = clean[name].clone()
        patched[:, :, heads] = corrupted[name][:, :, heads]
        return patched

    return hook


def _replace_receivers(recorded: dict[str, Tensor], groups: Receivers, positions: Tensor | None):
    def make(name: str, heads: list[int]):
        def hook(value: Tensor, hook) -> Tensor:
            new = recorded[name]
            if positions is not None:  # only one position per prompt
                rows = torch.arange(len(value), device=value.device)
                keep = value.clone()
                keep[rows, positions] = new[rows, positions]
                new = keep
            if not heads:
                return new
            value = value.clone()
            value[:, :, heads] = new[:, :, heads]
            return value

        return hook

    return [(name, make(name, heads)) for name, heads in groups.items()]


def _recorder(store: dict[str, Tensor], name: str):
    """A hook that keeps its input under the name we asked for (``hook.name`` may differ)."""

    def hook(value: Tensor, hook) -> None:
        store[name] = value.detach().clone()

    return hook
